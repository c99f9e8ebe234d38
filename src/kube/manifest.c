/*
 * manifest.c - the objects of a run's sandbox and its Jobs, as cJSON
 * documents (SPEC.md "The Kubernetes sandbox"). Pure: the same inputs
 * always give the same documents, nothing here touches the network.
 *
 * DESIGN: every object carries the managed-by and run labels, so ferry
 * can find what it made (cleanup at start-up lists namespaces by label)
 * and a person can tell where an object came from. Pods pass the Pod
 * Security "restricted" profile on their own (non-root uid and gid
 * 65532, no privilege escalation, all capabilities dropped, RuntimeDefault
 * seccomp, only emptyDir volumes), so the namespace's enforce label
 * rejects nothing ferry makes and everything else. Pods get no
 * credentials: the run's ServiceAccount does not mount its token and
 * neither do the pods, except a deploy step's, whose ServiceAccount is
 * bound in the deploy namespace only. The source URL carries the run's
 * token, so it travels in a Secret rather than in the pod spec, which
 * more people may read.
 */
#include "kube.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "kube_int.h"
#include "pipeline.h"
#include "util.h"

#define QUANTITY_LEN	32

/*
 * Source fetch: curl if the image has it, else (busybox) wget, tried
 * every 2 s for about a minute whatever the failure: a pod that starts
 * while ferry restarts (an upgrade, a crash) finds the connection
 * refused or cut in the middle of the archive, and must wait for ferry,
 * not fail its step. curl's own --retry leaves both of those alone
 * unless given options an older curl in the image may not know. An
 * HTTP error answer (curl's 22: the token was refused, the run ended)
 * is final. The last attempt's exit status is the container's.
 */
static const char source_script[] =
    "set -e\n"
    "fetch() {\n"
    "  if command -v curl >/dev/null 2>&1; then\n"
    "    curl -fsS --connect-timeout 10 -o /tmp/source.tar.gz \\\n"
    "      \"$FERRY_SOURCE_URL\"\n"
    "  else\n"
    "    wget -q -T 10 -O /tmp/source.tar.gz \"$FERRY_SOURCE_URL\"\n"
    "  fi\n"
    "}\n"
    "n=0\n"
    "until fetch; do\n"
    "  rc=$?\n"
    "  n=$((n + 1))\n"
    "  [ \"$n\" -lt 30 ] && [ \"$rc\" -ne 22 ] || exit \"$rc\"\n"
    "  sleep 2\n"
    "done\n"
    "tar -xzf /tmp/source.tar.gz -C " KUBE_WORKSPACE "\n"
    "rm -f /tmp/source.tar.gz\n";

char *
kube_namespace_name(const char *prefix, const char *repo, int64_t run_id)
{
	char	 id[24], *slug, *out;
	size_t	 i, n = 0, plen = 0, room;
	bool	 dash = false;

	(void)snprintf(id, sizeof(id), "%lld", (long long)run_id);
	/* The prefix as given, kept to what a DNS label allows. */
	out = xcalloc(1, KUBE_NAME_MAX + 1);
	for (i = 0; prefix != NULL && prefix[i] != '\0' && plen < 30; i++) {
		unsigned char	c = (unsigned char)tolower(
		    (unsigned char)prefix[i]);

		if (isalnum(c) || (c == '-' && plen > 0))
			out[plen++] = (char)c;
	}
	slug = xcalloc(1, strlen(repo) + 1);
	for (i = 0; repo[i] != '\0'; i++) {
		unsigned char	c = (unsigned char)repo[i];

		if (isalnum(c) && c < 0x80) {
			if (dash && n > 0)
				slug[n++] = '-';
			dash = false;
			slug[n++] = (char)tolower(c);
		} else
			dash = true;
	}
	room = KUBE_NAME_MAX - plen - strlen(id) - 1;
	if (n > room)
		n = room;
	while (n > 0 && slug[n - 1] == '-')
		n--;
	slug[n] = '\0';
	if (n == 0 && plen == 0)
		(void)snprintf(out, KUBE_NAME_MAX + 1, "run-%s", id);
	else if (n == 0)
		(void)snprintf(out + plen, KUBE_NAME_MAX + 1 - plen, "%s%s",
		    out[plen - 1] == '-' ? "" : "-", id);
	else
		(void)snprintf(out + plen, KUBE_NAME_MAX + 1 - plen, "%s-%s",
		    slug, id);
	free(slug);
	return out;
}

int
kube_url_split(char **host_out, int *port_out, bool *https_out,
    const char *url)
{
	const char	*p, *end, *colon;
	int64_t		 port;
	char		*ps;

	*host_out = NULL;
	if (strncmp(url, "https://", 8) == 0) {
		*https_out = true;
		p = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		*https_out = false;
		p = url + 7;
	} else
		return err_set(ERR_INVALID, "%s: not an http(s) URL", url);
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) != NULL)
		return err_set(ERR_INVALID, "%s: credentials in a URL", url);
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (rb == NULL || rb == p + 1)
			return err_set(ERR_INVALID, "%s: bad IPv6 host", url);
		*host_out = xstrndup(p + 1, (size_t)(rb - p - 1));
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (colon == NULL && rb + 1 != end)
			goto bad;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		*host_out = xstrndup(p, (size_t)((colon != NULL ? colon : end) -
		    p));
	}
	if ((*host_out)[0] == '\0')
		goto bad;
	*port_out = *https_out ? 443 : 80;
	if (colon != NULL) {
		ps = xstrndup(colon + 1, (size_t)(end - colon - 1));
		if (parse_int64(&port, ps, 1, 65535) != 0) {
			free(ps);
			goto bad;
		}
		free(ps);
		*port_out = (int)port;
	}
	return 0;
bad:
	free(*host_out);
	*host_out = NULL;
	return err_set(ERR_INVALID, "%s: bad host or port", url);
}

/* Helpers */

static cJSON *
add_obj(cJSON *parent, const char *key)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddItemToObject(parent, key, o);
	return o;
}

static cJSON *
add_arr(cJSON *parent, const char *key)
{
	cJSON	*a = cJSON_CreateArray();

	cJSON_AddItemToObject(parent, key, a);
	return a;
}

static cJSON *
push_obj(cJSON *arr)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddItemToArray(arr, o);
	return o;
}

static void
push_str(cJSON *arr, const char *s)
{
	cJSON_AddItemToArray(arr, cJSON_CreateString(s));
}

static void
run_labels(cJSON *meta, const struct kube_run *r)
{
	cJSON	*l = add_obj(meta, "labels");
	char	 id[24];

	(void)snprintf(id, sizeof(id), "%lld", (long long)r->run_id);
	cJSON_AddStringToObject(l, KUBE_LABEL_MANAGED_BY, KUBE_MANAGED_BY);
	cJSON_AddStringToObject(l, KUBE_LABEL_RUN, id);
}

/* A new object with apiVersion, kind and metadata (name, ns, labels). */
static cJSON *
object_new(const char *api_version, const char *kind, const char *name,
    const char *ns, const struct kube_run *r)
{
	cJSON	*o = cJSON_CreateObject(), *meta;

	cJSON_AddStringToObject(o, "apiVersion", api_version);
	cJSON_AddStringToObject(o, "kind", kind);
	meta = add_obj(o, "metadata");
	cJSON_AddStringToObject(meta, "name", name);
	if (ns != NULL)
		cJSON_AddStringToObject(meta, "namespace", ns);
	run_labels(meta, r);
	return o;
}

/* An object in the run's namespace. */
static cJSON *
run_object(const char *api_version, const char *kind, const char *name,
    const struct kube_run *r)
{
	char	*ns = kube_run_namespace(r);
	cJSON	*o = object_new(api_version, kind, name, ns, r);

	free(ns);
	return o;
}

static void
add_cpu(cJSON *o, const char *key, int64_t milli)
{
	char	q[QUANTITY_LEN];

	pipeline_cpu_format(q, sizeof(q), milli);
	cJSON_AddStringToObject(o, key, q);
}

static void
add_memory(cJSON *o, const char *key, int64_t bytes)
{
	char	q[QUANTITY_LEN];

	pipeline_memory_format(q, sizeof(q), bytes);
	cJSON_AddStringToObject(o, key, q);
}

char *
kube_run_namespace(const struct kube_run *r)
{
	return kube_namespace_name(r->cfg->kube.namespace_prefix,
	    r->repo->name, r->run_id);
}

char *
kube_run_source_url(const struct kube_run *r)
{
	return xasprintf("%s/source/%lld.tar.gz?token=%s", r->cfg->public_url,
	    (long long)r->run_id, r->source_token != NULL ? r->source_token :
	    "");
}

bool
kube_run_can_deploy(const struct kube_run *r)
{
	return r->repo->deploy_namespace != NULL &&
	    r->repo->deploy_role != NULL;
}

/* The sandbox */

cJSON *
kube_manifest_namespace(const struct kube_run *r)
{
	static const char *const modes[] = { "enforce", "warn", "audit" };
	cJSON	*o, *meta, *labels, *ann;
	char	*ns = kube_run_namespace(r), key[64];
	size_t	 i;

	o = object_new("v1", "Namespace", ns, NULL, r);
	meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		(void)snprintf(key, sizeof(key),
		    "pod-security.kubernetes.io/%s", modes[i]);
		cJSON_AddStringToObject(labels, key, "restricted");
		(void)snprintf(key, sizeof(key),
		    "pod-security.kubernetes.io/%s-version", modes[i]);
		cJSON_AddStringToObject(labels, key, "latest");
	}
	ann = add_obj(meta, "annotations");
	cJSON_AddStringToObject(ann, KUBE_ANN_REPO, r->repo->name);
	if (r->commit != NULL)
		cJSON_AddStringToObject(ann, KUBE_ANN_COMMIT, r->commit);
	free(ns);
	return o;
}

cJSON *
kube_manifest_quota(const struct kube_run *r)
{
	const struct config_resources	*q = &r->cfg->kube.quota;
	cJSON				*o, *hard;
	char				 n[24];

	o = run_object("v1", "ResourceQuota", "ferry-quota", r);
	hard = add_obj(add_obj(o, "spec"), "hard");
	if (q->cpu_milli > 0) {
		add_cpu(hard, "requests.cpu", q->cpu_milli);
		add_cpu(hard, "limits.cpu", q->cpu_milli);
	}
	if (q->memory > 0) {
		add_memory(hard, "requests.memory", q->memory);
		add_memory(hard, "limits.memory", q->memory);
	}
	if (q->pods > 0) {
		(void)snprintf(n, sizeof(n), "%lld", (long long)q->pods);
		cJSON_AddStringToObject(hard, "pods", n);
	}
	return o;
}

/* The per-container default: the configured one, never above the max. */
static int64_t
clamp(int64_t want, int64_t max)
{
	return max > 0 && want > max ? max : want;
}

cJSON *
kube_manifest_limitrange(const struct kube_run *r)
{
	const struct config_kube	*kc = &r->cfg->kube;
	cJSON				*o, *lim, *def, *req, *max;
	int64_t				 cpu, mem;

	cpu = clamp(kc->defaults.cpu_milli, kc->quota.cpu_milli);
	mem = clamp(kc->defaults.memory, kc->quota.memory);
	o = run_object("v1", "LimitRange", "ferry-limits", r);
	lim = push_obj(add_arr(add_obj(o, "spec"), "limits"));
	cJSON_AddStringToObject(lim, "type", "Container");
	def = add_obj(lim, "default");
	req = add_obj(lim, "defaultRequest");
	if (cpu > 0) {
		add_cpu(def, "cpu", cpu);
		add_cpu(req, "cpu", cpu);
	}
	if (mem > 0) {
		add_memory(def, "memory", mem);
		add_memory(req, "memory", mem);
	}
	if (kc->quota.cpu_milli > 0 || kc->quota.memory > 0) {
		max = add_obj(lim, "max");
		if (kc->quota.cpu_milli > 0)
			add_cpu(max, "cpu", kc->quota.cpu_milli);
		if (kc->quota.memory > 0)
			add_memory(max, "memory", kc->quota.memory);
	}
	return o;
}

cJSON *
kube_manifest_netpol_deny(const struct kube_run *r)
{
	cJSON	*o, *spec, *types;

	o = run_object("networking.k8s.io/v1", "NetworkPolicy",
	    "ferry-default-deny", r);
	spec = add_obj(o, "spec");
	(void)add_obj(spec, "podSelector");
	types = add_arr(spec, "policyTypes");
	push_str(types, "Ingress");
	push_str(types, "Egress");
	return o;
}

static void
add_port(cJSON *ports, const char *proto, int port)
{
	cJSON	*p = push_obj(ports);

	cJSON_AddStringToObject(p, "protocol", proto);
	cJSON_AddNumberToObject(p, "port", port);
}

static bool
is_ipv4(const char *s)
{
	int	dots = 0, digits = 0;

	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (digits == 0)
				return false;
			dots++;
			digits = 0;
		} else if (isdigit((unsigned char)*s) && digits < 3)
			digits++;
		else
			return false;
	}
	return dots == 3 && digits > 0;
}

/* "name.ns.svc" or "name.ns.svc.<cluster domain>": ns into *ns_out. */
static bool
service_namespace(char **ns_out, const char *host)
{
	const char	*d1 = strchr(host, '.'), *d2;

	*ns_out = NULL;
	if (d1 == NULL || (d2 = strchr(d1 + 1, '.')) == NULL || d2 == d1 + 1)
		return false;
	if (strcmp(d2, ".svc") != 0 && strncmp(d2, ".svc.", 5) != 0)
		return false;
	*ns_out = xstrndup(d1 + 1, (size_t)(d2 - d1 - 1));
	return true;
}

int
kube_manifest_netpol_egress(cJSON **out, const struct kube_run *r)
{
	const struct config_kube	*kc = &r->cfg->kube;
	cJSON				*o, *spec, *eg, *rule, *peer, *sel;
	char				*host = NULL, *svcns = NULL, *cidr;
	char				*note = NULL;
	const char			*colon;
	int64_t				 port;
	size_t				 i;
	bool				 https;
	int				 sport, rc;

	*out = NULL;
	if ((rc = kube_url_split(&host, &sport, &https, r->cfg->public_url))
	    != 0)
		return err_set(ERR_INVALID, "public_url %s: %s",
		    r->cfg->public_url, "cannot derive the source endpoint");
	o = run_object("networking.k8s.io/v1", "NetworkPolicy",
	    "ferry-allow-egress", r);
	spec = add_obj(o, "spec");
	(void)add_obj(spec, "podSelector");
	push_str(add_arr(spec, "policyTypes"), "Egress");
	eg = add_arr(spec, "egress");

	/* DNS, to the cluster's resolver only (no tunnels through others). */
	rule = push_obj(eg);
	peer = push_obj(add_arr(rule, "to"));
	sel = add_obj(add_obj(peer, "namespaceSelector"), "matchLabels");
	cJSON_AddStringToObject(sel, "kubernetes.io/metadata.name",
	    "kube-system");
	sel = add_obj(add_obj(peer, "podSelector"), "matchLabels");
	cJSON_AddStringToObject(sel, "k8s-app", "kube-dns");
	add_port(add_arr(rule, "ports"), "UDP", 53);
	add_port(cJSON_GetObjectItemCaseSensitive(rule, "ports"), "TCP", 53);

	/* ferry's source endpoint. */
	rule = push_obj(eg);
	if (is_ipv4(host) || strchr(host, ':') != NULL) {
		peer = push_obj(add_arr(rule, "to"));
		cidr = xasprintf("%s/%s", host, strchr(host, ':') != NULL ?
		    "128" : "32");
		cJSON_AddStringToObject(add_obj(peer, "ipBlock"), "cidr", cidr);
		free(cidr);
	} else if (service_namespace(&svcns, host)) {
		peer = push_obj(add_arr(rule, "to"));
		sel = add_obj(add_obj(peer, "namespaceSelector"),
		    "matchLabels");
		cJSON_AddStringToObject(sel, "kubernetes.io/metadata.name",
		    svcns);
	} else
		note = xasprintf("public_url names the host %s, which a "
		    "NetworkPolicy cannot match: port %d is open to any "
		    "address; use an IP address or a name.namespace.svc name "
		    "in public_url to narrow it", host, sport);
	add_port(add_arr(rule, "ports"), "TCP", sport);

	/* The configured egress list, "a.b.c.d/n:port". */
	for (i = 0; i < kc->negress; i++) {
		colon = strrchr(kc->egress[i], ':');
		if (colon == NULL || parse_int64(&port, colon + 1, 1, 65535)
		    != 0) {
			rc = err_set(ERR_INVALID, "kubernetes.egress %s: must "
			    "be CIDR:port", kc->egress[i]);
			cJSON_Delete(o);
			goto out;
		}
		rule = push_obj(eg);
		peer = push_obj(add_arr(rule, "to"));
		cidr = xstrndup(kc->egress[i], (size_t)(colon -
		    kc->egress[i]));
		cJSON_AddStringToObject(add_obj(peer, "ipBlock"), "cidr", cidr);
		free(cidr);
		add_port(add_arr(rule, "ports"), "TCP", (int)port);
	}
	if (note != NULL)
		cJSON_AddStringToObject(add_obj(
		    cJSON_GetObjectItemCaseSensitive(o, "metadata"),
		    "annotations"), "ferry.dev/source-egress", note);
	*out = o;
	rc = 0;
out:
	free(note);
	free(svcns);
	free(host);
	return rc;
}

cJSON *
kube_manifest_netpol_deploy(const struct kube_run *r)
{
	cJSON	*o, *spec, *rule, *ports;

	o = run_object("networking.k8s.io/v1", "NetworkPolicy",
	    "ferry-allow-deploy", r);
	cJSON_AddStringToObject(add_obj(cJSON_GetObjectItemCaseSensitive(o,
	    "metadata"), "annotations"), "ferry.dev/why", "a deploy step "
	    "talks to the API server, whose endpoint addresses (port 443 or "
	    "6443 after the kubernetes Service) differ per cluster");
	spec = add_obj(o, "spec");
	cJSON_AddStringToObject(add_obj(add_obj(spec, "podSelector"),
	    "matchLabels"), KUBE_LABEL_DEPLOY, "true");
	push_str(add_arr(spec, "policyTypes"), "Egress");
	rule = push_obj(add_arr(spec, "egress"));
	ports = add_arr(rule, "ports");
	add_port(ports, "TCP", 443);
	add_port(ports, "TCP", 6443);
	return o;
}

cJSON *
kube_manifest_serviceaccount(const struct kube_run *r, const char *name)
{
	cJSON	*o = run_object("v1", "ServiceAccount", name, r);

	cJSON_AddFalseToObject(o, "automountServiceAccountToken");
	return o;
}

cJSON *
kube_manifest_source_secret(const struct kube_run *r)
{
	cJSON	*o = run_object("v1", "Secret", KUBE_SECRET_SOURCE, r);
	char	*url = kube_run_source_url(r);

	cJSON_AddStringToObject(o, "type", "Opaque");
	cJSON_AddStringToObject(add_obj(o, "stringData"), "url", url);
	free_secret(url);
	return o;
}

int
kube_manifest_secret(cJSON **out, const struct kube_run *r,
    const char *const *names, size_t n, bool redact)
{
	cJSON	*o, *data;
	size_t	 i, j;

	*out = NULL;
	o = run_object("v1", "Secret", KUBE_SECRET_STEPS, r);
	cJSON_AddStringToObject(o, "type", "Opaque");
	data = add_obj(o, "stringData");
	for (i = 0; i < n; i++) {
		for (j = 0; j < r->repo->nsecrets; j++)
			if (strcmp(r->repo->secrets[j].name, names[i]) == 0)
				break;
		if (j == r->repo->nsecrets) {
			cJSON_Delete(o);
			return err_set(ERR_INVALID, "secret %s is not defined "
			    "for %s", names[i], r->repo->name);
		}
		if (cJSON_GetObjectItemCaseSensitive(data, names[i]) != NULL)
			continue;
		cJSON_AddStringToObject(data, names[i], redact ?
		    "<redacted>" : r->repo->secrets[j].value);
	}
	*out = o;
	return 0;
}

int
kube_manifest_rolebinding(cJSON **out, const struct kube_run *r)
{
	cJSON	*o, *subj, *ref;
	char	*ns;

	*out = NULL;
	if (!kube_run_can_deploy(r))
		return err_set(ERR_INVALID, "%s has no deploy namespace and "
		    "role", r->repo->name);
	ns = kube_run_namespace(r);
	o = object_new("rbac.authorization.k8s.io/v1", "RoleBinding", ns,
	    r->repo->deploy_namespace, r);
	subj = push_obj(add_arr(o, "subjects"));
	cJSON_AddStringToObject(subj, "kind", "ServiceAccount");
	cJSON_AddStringToObject(subj, "name", KUBE_SA_DEPLOY);
	cJSON_AddStringToObject(subj, "namespace", ns);
	ref = add_obj(o, "roleRef");
	cJSON_AddStringToObject(ref, "apiGroup", "rbac.authorization.k8s.io");
	cJSON_AddStringToObject(ref, "kind", "Role");
	cJSON_AddStringToObject(ref, "name", r->repo->deploy_role);
	free(ns);
	*out = o;
	return 0;
}

/* Jobs */

static bool
dns_label(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > KUBE_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static cJSON *
container_security(bool read_only_root)
{
	cJSON	*sc = cJSON_CreateObject();

	cJSON_AddFalseToObject(sc, "allowPrivilegeEscalation");
	cJSON_AddFalseToObject(sc, "privileged");
	push_str(add_arr(add_obj(sc, "capabilities"), "drop"), "ALL");
	cJSON_AddTrueToObject(sc, "runAsNonRoot");
	cJSON_AddNumberToObject(sc, "runAsUser", KUBE_RUN_AS);
	cJSON_AddNumberToObject(sc, "runAsGroup", KUBE_RUN_AS);
	if (read_only_root)
		cJSON_AddTrueToObject(sc, "readOnlyRootFilesystem");
	cJSON_AddStringToObject(add_obj(sc, "seccompProfile"), "type",
	    "RuntimeDefault");
	return sc;
}

static void
add_resources(cJSON *c, int64_t cpu, int64_t mem)
{
	cJSON	*res = add_obj(c, "resources");
	cJSON	*req = add_obj(res, "requests"), *lim = add_obj(res, "limits");

	if (cpu > 0) {
		add_cpu(req, "cpu", cpu);
		add_cpu(lim, "cpu", cpu);
	}
	if (mem > 0) {
		add_memory(req, "memory", mem);
		add_memory(lim, "memory", mem);
	}
}

static void
add_mount(cJSON *mounts, const char *name, const char *path)
{
	cJSON	*m = push_obj(mounts);

	cJSON_AddStringToObject(m, "name", name);
	cJSON_AddStringToObject(m, "mountPath", path);
}

/*
 * The kubelet expands $(NAME) in command, args and env values and turns
 * $$ into $: a '$' followed by '(' or '$' is doubled so that the text
 * reaches the shell as written ("echo $(date)" stays command
 * substitution even when a variable is called date). Caller frees.
 */
static char *
kubelet_escape(const char *s)
{
	struct buf	b;
	size_t		i;

	buf_init(&b, strlen(s) * 2 + 1);
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '$' && (s[i + 1] == '(' || s[i + 1] == '$'))
			(void)buf_append(&b, "$", 1);
		(void)buf_append(&b, &s[i], 1);
	}
	return buf_steal(&b);
}

static void
add_env(cJSON *env, const char *name, const char *value)
{
	cJSON	*e = push_obj(env);
	char	*v = kubelet_escape(value);

	cJSON_AddStringToObject(e, "name", name);
	cJSON_AddStringToObject(e, "value", v);
	free(v);
}

static void
add_env_secret(cJSON *env, const char *name, const char *secret,
    const char *key)
{
	cJSON	*e = push_obj(env), *ref;

	cJSON_AddStringToObject(e, "name", name);
	ref = add_obj(add_obj(e, "valueFrom"), "secretKeyRef");
	cJSON_AddStringToObject(ref, "name", secret);
	cJSON_AddStringToObject(ref, "key", key);
}

static bool
reserved_env(const char *name)
{
	static const char *const names[] = { "CI", "FERRY_RUN_ID",
	    "FERRY_REPO", "FERRY_BRANCH", "FERRY_COMMIT", "HOME" };
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* The object at "a.b" under o (both levels must exist). */
static cJSON *
jsub(cJSON *o, const char *path)
{
	const char	*dot = strchr(path, '.');
	char		*first;
	cJSON		*c;

	ASSERT(dot != NULL);
	first = xstrndup(path, (size_t)(dot - path));
	c = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    o, first), dot + 1);
	free(first);
	ASSERT(c != NULL);
	return c;
}

static void
step_labels(cJSON *meta, const struct kube_run *r, const char *step)
{
	run_labels(meta, r);
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(meta,
	    "labels"), KUBE_LABEL_STEP, step);
}

int
kube_manifest_job(cJSON **out, const struct kube_run *r,
    const struct kube_step *s)
{
	const struct config_kube	*kc = &r->cfg->kube;
	cJSON				*o, *meta, *spec, *tmpl, *pod, *sc;
	cJSON				*vols, *c, *cmd, *env, *mounts, *ann;
	char				*ns, *script, id[24];
	int64_t				 cpu, mem, deadline;
	size_t				 i, j;
	bool				 deploy, shadowed;

	*out = NULL;
	if (s->name == NULL || !dns_label(s->name))
		return err_set(ERR_INVALID, "step name %s is not a DNS label",
		    s->name != NULL ? s->name : "(none)");
	if (s->script == NULL || *s->script == '\0')
		return err_set(ERR_INVALID, "step %s has no commands",
		    s->name);
	if (s->timeout_ms <= 0)
		return err_set(ERR_INVALID, "step %s has no timeout", s->name);
	deploy = s->deploy && kube_run_can_deploy(r);
	cpu = s->cpu_milli > 0 ? s->cpu_milli :
	    clamp(kc->defaults.cpu_milli, kc->quota.cpu_milli);
	mem = s->memory > 0 ? s->memory :
	    clamp(kc->defaults.memory, kc->quota.memory);
	deadline = (s->timeout_ms + 999) / 1000;
	(void)snprintf(id, sizeof(id), "%lld", (long long)r->run_id);
	ns = kube_run_namespace(r);

	o = object_new("batch/v1", "Job", s->name, ns, r);
	meta = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(meta,
	    "labels"), KUBE_LABEL_STEP, s->name);
	ann = add_obj(meta, "annotations");
	cJSON_AddStringToObject(ann, KUBE_ANN_REPO, r->repo->name);
	if (r->commit != NULL)
		cJSON_AddStringToObject(ann, KUBE_ANN_COMMIT, r->commit);
	spec = add_obj(o, "spec");
	cJSON_AddNumberToObject(spec, "backoffLimit", 0);
	cJSON_AddNumberToObject(spec, "completions", 1);
	cJSON_AddNumberToObject(spec, "parallelism", 1);
	cJSON_AddNumberToObject(spec, "activeDeadlineSeconds",
	    (double)deadline);
	cJSON_AddNumberToObject(spec, "ttlSecondsAfterFinished",
	    KUBE_JOB_TTL_S);
	tmpl = add_obj(spec, "template");
	step_labels(add_obj(tmpl, "metadata"), r, s->name);
	if (deploy)
		cJSON_AddStringToObject(jsub(tmpl, "metadata.labels"),
		    KUBE_LABEL_DEPLOY, "true");
	pod = add_obj(tmpl, "spec");
	cJSON_AddStringToObject(pod, "restartPolicy", "Never");
	cJSON_AddStringToObject(pod, "serviceAccountName", deploy ?
	    KUBE_SA_DEPLOY : KUBE_SA_STEP);
	cJSON_AddBoolToObject(pod, "automountServiceAccountToken", deploy);
	cJSON_AddFalseToObject(pod, "enableServiceLinks");
	cJSON_AddNumberToObject(pod, "terminationGracePeriodSeconds",
	    KUBE_GRACE_S);
	sc = add_obj(pod, "securityContext");
	cJSON_AddTrueToObject(sc, "runAsNonRoot");
	cJSON_AddNumberToObject(sc, "runAsUser", KUBE_RUN_AS);
	cJSON_AddNumberToObject(sc, "runAsGroup", KUBE_RUN_AS);
	cJSON_AddNumberToObject(sc, "fsGroup", KUBE_RUN_AS);
	cJSON_AddStringToObject(add_obj(sc, "seccompProfile"), "type",
	    "RuntimeDefault");
	vols = add_arr(pod, "volumes");
	c = push_obj(vols);
	cJSON_AddStringToObject(c, "name", "workspace");
	(void)add_obj(c, "emptyDir");
	c = push_obj(vols);
	cJSON_AddStringToObject(c, "name", "tmp");
	(void)add_obj(c, "emptyDir");

	/* The init container: the commit's tree into the workspace. */
	c = push_obj(add_arr(pod, "initContainers"));
	cJSON_AddStringToObject(c, "name", KUBE_CONTAINER_SOURCE);
	cJSON_AddStringToObject(c, "image", kc->source_image);
	cmd = add_arr(c, "command");
	push_str(cmd, "sh");
	push_str(cmd, "-c");
	push_str(cmd, source_script);
	cJSON_AddStringToObject(c, "workingDir", KUBE_WORKSPACE);
	env = add_arr(c, "env");
	add_env_secret(env, "FERRY_SOURCE_URL", KUBE_SECRET_SOURCE, "url");
	add_resources(c, cpu, mem);
	cJSON_AddItemToObject(c, "securityContext", container_security(true));
	mounts = add_arr(c, "volumeMounts");
	add_mount(mounts, "workspace", KUBE_WORKSPACE);
	add_mount(mounts, "tmp", "/tmp");

	/* The step. */
	c = push_obj(add_arr(pod, "containers"));
	cJSON_AddStringToObject(c, "name", KUBE_CONTAINER_STEP);
	cJSON_AddStringToObject(c, "image", s->image != NULL ? s->image :
	    kc->source_image);
	cmd = add_arr(c, "command");
	push_str(cmd, "sh");
	push_str(cmd, "-e");
	push_str(cmd, "-c");
	script = kubelet_escape(s->script);
	push_str(cmd, script);
	free(script);
	cJSON_AddStringToObject(c, "workingDir", KUBE_WORKSPACE);
	env = add_arr(c, "env");
	add_env(env, "CI", "true");
	add_env(env, "FERRY_RUN_ID", id);
	add_env(env, "FERRY_REPO", r->repo->name);
	add_env(env, "FERRY_BRANCH", r->branch != NULL ? r->branch :
	    r->repo->branch);
	add_env(env, "FERRY_COMMIT", r->commit != NULL ? r->commit : "");
	add_env(env, "HOME", "/tmp");
	for (i = 0; i < s->nenv; i++) {
		if (reserved_env(s->env[i].name))
			continue;
		for (shadowed = false, j = 0; j < s->nsecrets; j++)
			if (strcmp(s->secrets[j], s->env[i].name) == 0)
				shadowed = true;
		if (!shadowed)
			add_env(env, s->env[i].name, s->env[i].value);
	}
	for (i = 0; i < s->nsecrets; i++)
		add_env_secret(env, s->secrets[i], KUBE_SECRET_STEPS,
		    s->secrets[i]);
	add_resources(c, cpu, mem);
	cJSON_AddItemToObject(c, "securityContext", container_security(false));
	mounts = add_arr(c, "volumeMounts");
	add_mount(mounts, "workspace", KUBE_WORKSPACE);
	add_mount(mounts, "tmp", "/tmp");
	free(ns);
	*out = o;
	return 0;
}

/* The whole run */

int
kube_manifests_sandbox(cJSON *arr, const struct kube_run *r,
    const char *const *secret_names, size_t nsecrets, bool deploy,
    bool redact)
{
	cJSON	*o;
	int	 rc;

	cJSON_AddItemToArray(arr, kube_manifest_namespace(r));
	cJSON_AddItemToArray(arr, kube_manifest_serviceaccount(r,
	    KUBE_SA_STEP));
	if (deploy)
		cJSON_AddItemToArray(arr, kube_manifest_serviceaccount(r,
		    KUBE_SA_DEPLOY));
	cJSON_AddItemToArray(arr, kube_manifest_quota(r));
	cJSON_AddItemToArray(arr, kube_manifest_limitrange(r));
	cJSON_AddItemToArray(arr, kube_manifest_netpol_deny(r));
	if ((rc = kube_manifest_netpol_egress(&o, r)) != 0)
		return rc;
	cJSON_AddItemToArray(arr, o);
	if (deploy)
		cJSON_AddItemToArray(arr, kube_manifest_netpol_deploy(r));
	cJSON_AddItemToArray(arr, kube_manifest_source_secret(r));
	if (nsecrets > 0) {
		if ((rc = kube_manifest_secret(&o, r, secret_names, nsecrets,
		    redact)) != 0)
			return rc;
		cJSON_AddItemToArray(arr, o);
	}
	if (deploy) {
		if ((rc = kube_manifest_rolebinding(&o, r)) != 0)
			return rc;
		cJSON_AddItemToArray(arr, o);
	}
	return 0;
}

int
kube_manifests_run(cJSON **out, const struct kube_run *r,
    const struct pipeline *p, bool redact)
{
	const char	**names = NULL;
	cJSON		*arr, *o;
	struct buf	 script;
	size_t		*order, i, j, k, n = 0;
	bool		 deploy = false, dup;
	int		 rc;

	*out = NULL;
	arr = cJSON_CreateArray();
	order = xcalloc(p->nsteps, sizeof(*order));
	if ((rc = pipeline_order(order, p)) != 0)
		goto out;
	for (i = 0; i < p->nsteps; i++) {
		const struct pipeline_step	*ps = &p->steps[i];

		deploy |= ps->deploy;
		for (j = 0; j < ps->nsecrets; j++) {
			for (dup = false, k = 0; k < n; k++)
				dup |= strcmp(names[k], ps->secrets[j]) == 0;
			if (dup)
				continue;
			names = xreallocarray(names, n + 1, sizeof(*names));
			names[n++] = ps->secrets[j];
		}
	}
	deploy = deploy && kube_run_can_deploy(r);
	if ((rc = kube_manifests_sandbox(arr, r, names, n, deploy,
	    redact)) != 0)
		goto out;
	for (i = 0; i < p->nsteps; i++) {
		const struct pipeline_step	*ps = &p->steps[order[i]];
		struct kube_step		 ks;
		struct kube_env			*env;

		buf_init(&script, 1024 * 1024);
		for (j = 0; j < ps->ncommands; j++)
			(void)buf_printf(&script, "%s\n", ps->commands[j]);
		env = xcalloc(ps->nenv + 1, sizeof(*env));
		for (j = 0; j < ps->nenv; j++) {
			env[j].name = ps->env[j].name;
			env[j].value = ps->env[j].value;
		}
		memset(&ks, 0, sizeof(ks));
		ks.name = ps->name;
		ks.image = ps->image;
		ks.script = script.data;
		ks.env = env;
		ks.nenv = ps->nenv;
		ks.secrets = (const char *const *)ps->secrets;
		ks.nsecrets = ps->nsecrets;
		ks.timeout_ms = ps->timeout_ms;
		ks.cpu_milli = ps->cpu_milli;
		ks.memory = ps->memory;
		ks.deploy = ps->deploy;
		rc = kube_manifest_job(&o, r, &ks);
		free(env);
		buf_dispose(&script);
		if (rc != 0)
			goto out;
		cJSON_AddItemToArray(arr, o);
	}
	*out = arr;
	arr = NULL;
out:
	cJSON_Delete(arr);
	free(order);
	free(names);
	return rc;
}
