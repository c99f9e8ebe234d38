/*
 * Tests of the kube module: kubeconfig and in-cluster configuration,
 * namespace names, every manifest of a run, the YAML writer, Status
 * parsing, the retry policy, and the client's HTTP behaviour against a
 * small HTTP server in the test on 127.0.0.1 (create/adopt, errors,
 * retries, Retry-After, lists with continue, patch, delete, watch,
 * logs, connection reuse, the bearer token and its file's rotation).
 * When Debian's python3-kubernetes is installed, the client also talks
 * TLS to the API double (tests/kube/kube_double.py) with a token and
 * with a client certificate.
 */
#define _GNU_SOURCE	/* strcasestr */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "config.h"
#include "kube.h"
#include "metrics.h"
#include "pipeline.h"
#include "util.h"

#define DATA	TEST_DATA_DIR "/kube"

/* cJSON path lookup: "spec.template.spec.containers.0.name". */
static cJSON *
jget(const cJSON *j, const char *path)
{
	char	*p = xstrdup(path), *seg, *save = NULL;
	cJSON	*cur = (cJSON *)j;

	for (seg = strtok_r(p, ".", &save); seg != NULL && cur != NULL;
	    seg = strtok_r(NULL, ".", &save)) {
		if (cJSON_IsArray(cur))
			cur = cJSON_GetArrayItem(cur,
			    (int)strtol(seg, NULL, 10));
		else
			cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
	}
	free(p);
	return cur;
}

static const char *
jstr(const cJSON *j, const char *path)
{
	const char	*s = cJSON_GetStringValue(jget(j, path));

	return s != NULL ? s : "(missing)";
}

static double
jnum(const cJSON *j, const char *path)
{
	cJSON	*n = jget(j, path);

	ck_assert_msg(cJSON_IsNumber(n), "%s is not a number", path);
	return n->valuedouble;
}

static bool
jtrue(const cJSON *j, const char *path)
{
	return cJSON_IsTrue(jget(j, path));
}

static bool
jfalse(const cJSON *j, const char *path)
{
	return cJSON_IsFalse(jget(j, path));
}

/* The env entry called name in a container's env array, or NULL. */
static cJSON *
env_find(const cJSON *container, const char *name)
{
	cJSON	*e;

	cJSON_ArrayForEach(e, jget(container, "env")) {
		if (strcmp(jstr(e, "name"), name) == 0)
			return e;
	}
	return NULL;
}

/*
 * Configuration
 */

START_TEST(kubeconfig_token)
{
	struct kube_config	*c;

	ck_assert_int_eq(kube_config_load(&c, DATA "/kubeconfig-token.yaml",
	    NULL), 0);
	ck_assert_str_eq(c->server, "https://k8s.example.com:6443");
	ck_assert_str_eq(c->context, "prod-admin");
	ck_assert_str_eq(c->namespace, "ci");
	ck_assert_str_eq(c->token, "static-token-abc");
	ck_assert_ptr_null(c->token_file);
	ck_assert_str_eq(c->ca_file, DATA "/ca.pem");
	ck_assert_ptr_null(c->ca_data);
	ck_assert(!c->insecure);
	ck_assert_ptr_null(c->cert_file);
	kube_config_free(c);
}
END_TEST

START_TEST(kubeconfig_token_file)
{
	struct kube_config	*c;

	ck_assert_int_eq(kube_config_load(&c,
	    DATA "/kubeconfig-tokenfile.yaml", NULL), 0);
	ck_assert_str_eq(c->token_file, DATA "/sa-token");
	ck_assert_str_eq(c->token, "fallback-token");
	ck_assert_str_eq(c->ca_file, "/etc/ferry/ca.pem");
	ck_assert_ptr_null(c->namespace);
	kube_config_free(c);
}
END_TEST

START_TEST(kubeconfig_cert_files)
{
	struct kube_config	*c;

	ck_assert_int_eq(kube_config_load(&c,
	    DATA "/kubeconfig-certfiles.yaml", NULL), 0);
	ck_assert_str_eq(c->cert_file, DATA "/client.pem");
	ck_assert_str_eq(c->key_file, "/abs/client-key.pem");
	ck_assert_str_eq(c->tls_server_name, "kubernetes.default.svc");
	ck_assert_ptr_null(c->token);
	kube_config_free(c);
}
END_TEST

START_TEST(kubeconfig_inline_data)
{
	struct kube_config	*c;
	char			*ca, *cert, *key;
	size_t			 len;

	ck_assert_int_eq(file_read(&ca, &len, DATA "/ca.pem", 4096), 0);
	ck_assert_int_eq(file_read(&cert, &len, DATA "/client.pem", 4096), 0);
	ck_assert_int_eq(file_read(&key, &len, DATA "/client-key.pem", 4096),
	    0);
	ck_assert_int_eq(kube_config_load(&c, DATA "/kubeconfig-data.yaml",
	    NULL), 0);
	ck_assert_str_eq(c->server, "https://127.0.0.1:39251");
	ck_assert_uint_eq(c->ca_len, strlen(ca));
	ck_assert_str_eq(c->ca_data, ca);
	ck_assert_str_eq(c->cert_data, cert);
	ck_assert_str_eq(c->key_data, key);
	ck_assert_uint_eq(c->key_len, strlen(key));
	ck_assert_ptr_null(c->ca_file);
	ck_assert_ptr_null(c->cert_file);
	kube_config_free(c);
	free(ca);
	free(cert);
	free(key);
}
END_TEST

START_TEST(kubeconfig_contexts)
{
	struct kube_config	*c;

	ck_assert_int_eq(kube_config_load(&c,
	    DATA "/kubeconfig-contexts.yaml", NULL), 0);
	ck_assert_str_eq(c->context, "staging");
	ck_assert_str_eq(c->server, "http://127.0.0.1:8001");
	ck_assert_str_eq(c->namespace, "staging-ci");
	ck_assert_str_eq(c->token, "dev-token");
	kube_config_free(c);

	ck_assert_int_eq(kube_config_load(&c,
	    DATA "/kubeconfig-contexts.yaml", "prod"), 0);
	ck_assert_str_eq(c->context, "prod");
	ck_assert_str_eq(c->server, "https://prod.example.com");
	ck_assert_str_eq(c->token, "prod-token");
	ck_assert_ptr_nonnull(c->ca_data);
	ck_assert_ptr_null(c->namespace);
	kube_config_free(c);

	/* An alias to another cluster's mapping. */
	ck_assert_int_eq(kube_config_load(&c,
	    DATA "/kubeconfig-contexts.yaml", "again"), 0);
	ck_assert_str_eq(c->server, "http://127.0.0.1:8001");
	kube_config_free(c);

	ck_assert_int_eq(kube_config_load(&c,
	    DATA "/kubeconfig-contexts.yaml", "nope"), ERR_INVALID);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(err_msg(), "context \"nope\" not found"));
}
END_TEST

START_TEST(kubeconfig_insecure_json)
{
	struct kube_config	*c;

	ck_assert_int_eq(kube_config_load(&c,
	    DATA "/kubeconfig-insecure.json", NULL), 0);
	ck_assert(c->insecure);
	ck_assert_str_eq(c->token, "lab-token");
	ck_assert_str_eq(c->server, "https://192.168.0.10:6443");
	kube_config_free(c);
}
END_TEST

/* kube_config_parse of text; returns rc and leaves the message. */
static int
parse_text(const char *text)
{
	struct kube_config	*c = NULL;
	int			 rc;

	rc = kube_config_parse(&c, "/etc/ferry/kubeconfig", text, strlen(text),
	    NULL);
	kube_config_free(c);
	return rc;
}

START_TEST(kubeconfig_errors)
{
	static const char head[] =
	    "clusters: [{name: c, cluster: {server: https://a}}]\n"
	    "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
	    "current-context: x\n";
	struct kube_config	*c;
	char			*t;

	ck_assert_int_eq(kube_config_load(&c, DATA "/missing.yaml", NULL),
	    ERR_NOTFOUND);
	ck_assert_ptr_null(c);

	ck_assert_int_eq(parse_text("clusters: []\n"), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "no current-context"));

	ck_assert_int_eq(parse_text("- a\n- b\n"), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "not a kubeconfig"));

	ck_assert_int_eq(parse_text("a: [\n"), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "/etc/ferry/kubeconfig:"));

	ck_assert_int_eq(parse_text(
	    "clusters: [{name: c, cluster: {certificate-authority: x}}]\n"
	    "contexts: [{name: x, context: {cluster: c}}]\n"
	    "current-context: x\n"), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "cluster \"c\" has no server"));

	ck_assert_int_eq(parse_text(
	    "contexts: [{name: x, context: {cluster: gone}}]\n"
	    "current-context: x\n"), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "cluster \"gone\" not found"));

	ck_assert_int_eq(parse_text(
	    "clusters: [{name: c, cluster: {server: ftp://a}}]\n"
	    "contexts: [{name: x, context: {cluster: c}}]\n"
	    "current-context: x\n"), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "https://"));

	t = xasprintf("%susers: [{name: u, user: {client-certificate: "
	    "a.pem}}]\n", head);
	ck_assert_int_eq(parse_text(t), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "needs its key"));
	free(t);

	t = xasprintf("%susers: [{name: u, user: {client-key-data: "
	    "\"not base64!\", client-certificate-data: QUJD}}]\n", head);
	ck_assert_int_eq(parse_text(t), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(),
	    "client-key-data is not valid base64"));
	free(t);

	t = xasprintf("%susers: [{name: v, user: {token: t}}]\n", head);
	ck_assert_int_eq(parse_text(t), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "user \"u\" not found"));
	free(t);

	t = xasprintf("%susers: [{name: u, user: {username: a, password: "
	    "b}}]\n", head);
	ck_assert_int_eq(parse_text(t), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "username is not supported"));
	free(t);
}
END_TEST

START_TEST(kubeconfig_exec_refused)
{
	struct kube_config	*c;

	ck_assert_int_eq(kube_config_load(&c, DATA "/kubeconfig-exec.yaml",
	    NULL), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "user \"eks\": exec is not "
	    "supported"));
	/* The message names no secret and no command. */
	ck_assert_ptr_null(strstr(err_msg(), "get-token"));
}
END_TEST

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

static char *
temp_dir(void)
{
	char	*d = xstrdup("/tmp/ferry-kube-test.XXXXXX");

	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

static void
rm_rf(const char *dir)
{
	char	*cmd = xasprintf("rm -rf '%s'", dir);

	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
}

START_TEST(incluster_config)
{
	struct kube_config	*c;
	char			*d = temp_dir(), *p;

	p = xasprintf("%s/token", d);
	write_file(p, "sa-token\n");
	free(p);
	p = xasprintf("%s/ca.crt", d);
	write_file(p, "-----BEGIN CERTIFICATE-----\n");
	free(p);
	p = xasprintf("%s/namespace", d);
	write_file(p, "ferry\n");
	free(p);

	unsetenv("KUBERNETES_SERVICE_HOST");
	ck_assert_int_eq(kube_config_incluster(&c, d), ERR_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(err_msg(), "KUBERNETES_SERVICE_HOST"));

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	ck_assert_int_eq(kube_config_incluster(&c, d), 0);
	ck_assert_str_eq(c->server, "https://10.96.0.1:443");
	p = xasprintf("%s/token", d);
	ck_assert_str_eq(c->token_file, p);
	free(p);
	p = xasprintf("%s/ca.crt", d);
	ck_assert_str_eq(c->ca_file, p);
	free(p);
	ck_assert_str_eq(c->namespace, "ferry");
	ck_assert_ptr_null(c->token);
	ck_assert(!c->insecure);
	kube_config_free(c);

	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	ck_assert_int_eq(kube_config_incluster(&c, d), 0);
	ck_assert_str_eq(c->server, "https://[fd00:10:96::1]:6443");
	kube_config_free(c);

	setenv("KUBERNETES_SERVICE_PORT", "http", 1);
	ck_assert_int_eq(kube_config_incluster(&c, d), ERR_INVALID);

	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	p = xasprintf("%s/token", d);
	ck_assert_int_eq(unlink(p), 0);
	free(p);
	ck_assert_int_eq(kube_config_incluster(&c, d), ERR_NOTFOUND);
	ck_assert_ptr_nonnull(strstr(err_msg(), "no service account token"));
	rm_rf(d);
	free(d);
}
END_TEST

/*
 * Namespace names
 */

static bool
is_dns_label(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

START_TEST(namespace_names)
{
	static const char *const repos[] = { "acme/shop", "Acme/Shop.Web",
	    "group/sub.group/my_project", "a", "///", "ÄÖÜ/ünïcode",
	    "x--y__z..w", "very-long-organisation-name/"
	    "an-even-longer-repository-name-that-goes-on-and-on-and-on",
	    "UPPER/CASE.REPO", "-lead/trail-", "" };
	static const int64_t ids[] = { 1, 42, 999999, INT64_MAX };
	size_t	i, j;
	char	*a, *b;

	a = kube_namespace_name("ferry-", "acme/shop", 42);
	ck_assert_str_eq(a, "ferry-acme-shop-42");
	free(a);
	a = kube_namespace_name("ferry-", "Acme/Shop.Web", 7);
	ck_assert_str_eq(a, "ferry-acme-shop-web-7");
	free(a);
	a = kube_namespace_name("ci", "group/sub.group/my_project", 3);
	ck_assert_str_eq(a, "cigroup-sub-group-my-project-3");
	free(a);
	a = kube_namespace_name("ferry-", "///", 5);
	ck_assert_str_eq(a, "ferry-5");
	free(a);
	a = kube_namespace_name("", "", 5);
	ck_assert_str_eq(a, "run-5");
	free(a);

	for (i = 0; i < sizeof(repos) / sizeof(repos[0]); i++) {
		for (j = 0; j < sizeof(ids) / sizeof(ids[0]); j++) {
			char	 suffix[32];

			a = kube_namespace_name("ferry-", repos[i], ids[j]);
			ck_assert_msg(is_dns_label(a), "%s -> %s", repos[i], a);
			(void)snprintf(suffix, sizeof(suffix), "-%lld",
			    (long long)ids[j]);
			ck_assert_msg(strlen(a) > strlen(suffix) &&
			    strcmp(a + strlen(a) - strlen(suffix), suffix) ==
			    0, "%s does not end with the run id", a);
			ck_assert_msg(strncmp(a, "ferry-", 6) == 0, "%s", a);
			/* Stable. */
			b = kube_namespace_name("ferry-", repos[i], ids[j]);
			ck_assert_str_eq(a, b);
			free(b);
			/* Unique with the run id. */
			b = kube_namespace_name("ferry-", repos[i], ids[j] - 1);
			ck_assert_str_ne(a, b);
			free(b);
			free(a);
		}
	}
	/* A long name is cut to 63 and keeps the id whole. */
	a = kube_namespace_name("ferry-", repos[7], 1234567);
	ck_assert_uint_eq(strlen(a), 63);
	ck_assert_str_eq(a + 55, "-1234567");
	free(a);
	/* A 30-character prefix and the largest id still fit. */
	a = kube_namespace_name("abcdefghijklmnopqrstuvwxyz-ci-", repos[7],
	    INT64_MAX);
	ck_assert(is_dns_label(a));
	free(a);
}
END_TEST

/*
 * Manifests
 */

static const char cfg_text[] =
    "listen: 127.0.0.1:8080\n"
    "data_dir: /tmp/ferry-kube-unused\n"
    "public_url: %s\n"
    "executor: kubernetes\n"
    "kubernetes:\n"
    "  namespace_prefix: ferry-\n"
    "  source_image: busybox:1.36\n"
    "  defaults: {cpu: 500m, memory: 512Mi}\n"
    "  quota: {cpu: \"4\", memory: 8Gi, pods: 10}\n"
    "  egress: [10.20.0.0/16:443, 192.168.1.5/32:5432]\n"
    "repos:\n"
    "  - name: acme/shop\n"
    "    provider: github\n"
    "    clone_url: /srv/git/shop.git\n"
    "    secret: env:KT_HOOK\n"
    "    deploy: {namespace: shop-prod, role: ferry-deployer}\n"
    "    secrets:\n"
    "      REGISTRY_PASSWORD: env:KT_REGISTRY\n"
    "      NPM_TOKEN: env:KT_NPM\n"
    "  - name: tools/site\n"
    "    provider: gitlab\n"
    "    clone_url: /srv/git/site.git\n"
    "    secret: env:KT_HOOK\n";

static const char pipeline_text[] =
    "steps:\n"
    "  - name: build\n"
    "    image: gcc:13\n"
    "    commands: [make, \"echo built\"]\n"
    "    env: {LOG_LEVEL: debug}\n"
    "  - name: test\n"
    "    image: gcc:13\n"
    "    commands: [make check]\n"
    "    needs: [build]\n"
    "    secrets: [NPM_TOKEN]\n"
    "    resources: {cpu: 250m, memory: 128Mi}\n"
    "    timeout: 90s\n"
    "  - name: deploy\n"
    "    image: bitnami/kubectl:1.30\n"
    "    commands: [\"kubectl -n shop-prod set image deploy/shop "
    "app=shop:$FERRY_COMMIT\"]\n"
    "    needs: [test]\n"
    "    deploy: true\n"
    "    secrets: [REGISTRY_PASSWORD]\n"
    "    timeout: 5m\n";

#define SHA	"9f1c2ab3d4e5f60718293a4b5c6d7e8f90a1b2c3"

struct fixture {
	struct config	*cfg;
	struct kube_run	 run;
};

static void
fixture_init(struct fixture *f, const char *public_url, const char *repo)
{
	char	*t;

	setenv("KT_HOOK", "hook-secret", 1);
	setenv("KT_REGISTRY", "registry-s3cret", 1);
	setenv("KT_NPM", "npm-s3cret", 1);
	t = xasprintf(cfg_text, public_url);
	ck_assert_msg(config_parse(&f->cfg, "test.yml", t, strlen(t)) == 0,
	    "%s", err_msg());
	free(t);
	memset(&f->run, 0, sizeof(f->run));
	f->run.cfg = f->cfg;
	f->run.repo = config_repo_by_name(f->cfg, repo);
	ck_assert_ptr_nonnull(f->run.repo);
	f->run.run_id = 42;
	f->run.branch = "master";
	f->run.commit = SHA;
	f->run.source_token = "tok123";
}

static void
fixture_dispose(struct fixture *f)
{
	config_free(f->cfg);
}

static void
check_run_labels(const cJSON *o)
{
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    jget(o, "metadata.labels"), KUBE_LABEL_MANAGED_BY)), "ferry");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    jget(o, "metadata.labels"), KUBE_LABEL_RUN)), "42");
}

START_TEST(manifest_namespace)
{
	struct fixture	 f;
	cJSON		*o, *l;

	fixture_init(&f, "http://10.0.0.5:8080", "acme/shop");
	o = kube_manifest_namespace(&f.run);
	ck_assert_str_eq(jstr(o, "apiVersion"), "v1");
	ck_assert_str_eq(jstr(o, "kind"), "Namespace");
	ck_assert_str_eq(jstr(o, "metadata.name"), "ferry-acme-shop-42");
	ck_assert_ptr_null(jget(o, "metadata.namespace"));
	check_run_labels(o);
	l = jget(o, "metadata.labels");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(l,
	    "pod-security.kubernetes.io/enforce")), "restricted");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(l,
	    "pod-security.kubernetes.io/warn")), "restricted");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(l,
	    "pod-security.kubernetes.io/audit")), "restricted");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(
	    jget(o, "metadata.annotations"), KUBE_ANN_REPO)), "acme/shop");
	cJSON_Delete(o);
	fixture_dispose(&f);
}
END_TEST

START_TEST(manifest_quota_limits)
{
	struct fixture	 f;
	cJSON		*o, *h;

	fixture_init(&f, "http://10.0.0.5:8080", "acme/shop");
	o = kube_manifest_quota(&f.run);
	ck_assert_str_eq(jstr(o, "kind"), "ResourceQuota");
	ck_assert_str_eq(jstr(o, "metadata.namespace"), "ferry-acme-shop-42");
	check_run_labels(o);
	h = jget(o, "spec.hard");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(h,
	    "limits.cpu")), "4");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(h,
	    "requests.cpu")), "4");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(h,
	    "limits.memory")), "8Gi");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(h,
	    "requests.memory")), "8Gi");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(h,
	    "pods")), "10");
	cJSON_Delete(o);

	o = kube_manifest_limitrange(&f.run);
	ck_assert_str_eq(jstr(o, "kind"), "LimitRange");
	check_run_labels(o);
	ck_assert_str_eq(jstr(o, "spec.limits.0.type"), "Container");
	ck_assert_str_eq(jstr(o, "spec.limits.0.default.cpu"), "500m");
	ck_assert_str_eq(jstr(o, "spec.limits.0.default.memory"), "512Mi");
	ck_assert_str_eq(jstr(o, "spec.limits.0.defaultRequest.cpu"), "500m");
	ck_assert_str_eq(jstr(o, "spec.limits.0.defaultRequest.memory"),
	    "512Mi");
	ck_assert_str_eq(jstr(o, "spec.limits.0.max.cpu"), "4");
	ck_assert_str_eq(jstr(o, "spec.limits.0.max.memory"), "8Gi");
	cJSON_Delete(o);
	fixture_dispose(&f);
}
END_TEST

START_TEST(manifest_netpols)
{
	struct fixture	 f;
	cJSON		*o;

	fixture_init(&f, "http://10.0.0.5:8080", "acme/shop");
	o = kube_manifest_netpol_deny(&f.run);
	ck_assert_str_eq(jstr(o, "apiVersion"), "networking.k8s.io/v1");
	ck_assert_str_eq(jstr(o, "kind"), "NetworkPolicy");
	check_run_labels(o);
	ck_assert(cJSON_IsObject(jget(o, "spec.podSelector")));
	ck_assert_ptr_null(jget(o, "spec.podSelector")->child);
	ck_assert_int_eq(cJSON_GetArraySize(jget(o, "spec.policyTypes")), 2);
	ck_assert_str_eq(jstr(o, "spec.policyTypes.0"), "Ingress");
	ck_assert_str_eq(jstr(o, "spec.policyTypes.1"), "Egress");
	ck_assert_ptr_null(jget(o, "spec.ingress"));
	ck_assert_ptr_null(jget(o, "spec.egress"));
	cJSON_Delete(o);

	ck_assert_int_eq(kube_manifest_netpol_egress(&o, &f.run), 0);
	check_run_labels(o);
	ck_assert_int_eq(cJSON_GetArraySize(jget(o, "spec.policyTypes")), 1);
	ck_assert_str_eq(jstr(o, "spec.policyTypes.0"), "Egress");
	ck_assert_ptr_null(jget(o, "spec.ingress"));
	ck_assert_int_eq(cJSON_GetArraySize(jget(o, "spec.egress")), 4);
	/* DNS to kube-dns only. */
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(jget(o,
	    "spec.egress.0.to.0.namespaceSelector.matchLabels"),
	    "kubernetes.io/metadata.name")), "kube-system");
	ck_assert_str_eq(jstr(o,
	    "spec.egress.0.to.0.podSelector.matchLabels.k8s-app"),
	    "kube-dns");
	ck_assert_str_eq(jstr(o, "spec.egress.0.ports.0.protocol"), "UDP");
	ck_assert_int_eq(jnum(o, "spec.egress.0.ports.0.port"), 53);
	ck_assert_str_eq(jstr(o, "spec.egress.0.ports.1.protocol"), "TCP");
	ck_assert_int_eq(jnum(o, "spec.egress.0.ports.1.port"), 53);
	/* ferry's source endpoint: an IP, so exactly that address. */
	ck_assert_str_eq(jstr(o, "spec.egress.1.to.0.ipBlock.cidr"),
	    "10.0.0.5/32");
	ck_assert_int_eq(jnum(o, "spec.egress.1.ports.0.port"), 8080);
	ck_assert_str_eq(jstr(o, "spec.egress.1.ports.0.protocol"), "TCP");
	/* The configured list. */
	ck_assert_str_eq(jstr(o, "spec.egress.2.to.0.ipBlock.cidr"),
	    "10.20.0.0/16");
	ck_assert_int_eq(jnum(o, "spec.egress.2.ports.0.port"), 443);
	ck_assert_str_eq(jstr(o, "spec.egress.3.to.0.ipBlock.cidr"),
	    "192.168.1.5/32");
	ck_assert_int_eq(jnum(o, "spec.egress.3.ports.0.port"), 5432);
	ck_assert_ptr_null(jget(o, "metadata.annotations"));
	cJSON_Delete(o);
	fixture_dispose(&f);

	/* A hostname: the port to anywhere, and the annotation says so. */
	fixture_init(&f, "https://ci.example.com", "acme/shop");
	ck_assert_int_eq(kube_manifest_netpol_egress(&o, &f.run), 0);
	ck_assert_ptr_null(jget(o, "spec.egress.1.to"));
	ck_assert_int_eq(jnum(o, "spec.egress.1.ports.0.port"), 443);
	ck_assert_ptr_nonnull(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(
	    jget(o, "metadata.annotations"), "ferry.dev/source-egress")),
	    "ci.example.com"));
	cJSON_Delete(o);
	fixture_dispose(&f);

	/* A Service name: its namespace. */
	fixture_init(&f, "http://ferry.ferry-system.svc.cluster.local:8080",
	    "acme/shop");
	ck_assert_int_eq(kube_manifest_netpol_egress(&o, &f.run), 0);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(jget(o,
	    "spec.egress.1.to.0.namespaceSelector.matchLabels"),
	    "kubernetes.io/metadata.name")), "ferry-system");
	ck_assert_int_eq(jnum(o, "spec.egress.1.ports.0.port"), 8080);
	cJSON_Delete(o);
	fixture_dispose(&f);

	/* An IPv6 address. */
	fixture_init(&f, "http://[fd00::5]:8080", "acme/shop");
	ck_assert_int_eq(kube_manifest_netpol_egress(&o, &f.run), 0);
	ck_assert_str_eq(jstr(o, "spec.egress.1.to.0.ipBlock.cidr"),
	    "fd00::5/128");
	cJSON_Delete(o);
	fixture_dispose(&f);
}
END_TEST

START_TEST(manifest_accounts_secrets)
{
	static const char *const names[] = { "NPM_TOKEN", "REGISTRY_PASSWORD",
	    "NPM_TOKEN" };
	static const char *const bad[] = { "UNDEFINED" };
	struct fixture	 f;
	cJSON		*o;
	char		*s;

	fixture_init(&f, "http://10.0.0.5:8080", "acme/shop");
	o = kube_manifest_serviceaccount(&f.run, KUBE_SA_STEP);
	ck_assert_str_eq(jstr(o, "kind"), "ServiceAccount");
	ck_assert_str_eq(jstr(o, "metadata.name"), "ferry-step");
	ck_assert(jfalse(o, "automountServiceAccountToken"));
	check_run_labels(o);
	cJSON_Delete(o);

	o = kube_manifest_source_secret(&f.run);
	ck_assert_str_eq(jstr(o, "metadata.name"), KUBE_SECRET_SOURCE);
	ck_assert_str_eq(jstr(o, "stringData.url"),
	    "http://10.0.0.5:8080/source/42.tar.gz?token=tok123");
	cJSON_Delete(o);

	ck_assert_int_eq(kube_manifest_secret(&o, &f.run, names, 3, false), 0);
	ck_assert_str_eq(jstr(o, "kind"), "Secret");
	ck_assert_str_eq(jstr(o, "metadata.name"), KUBE_SECRET_STEPS);
	ck_assert_str_eq(jstr(o, "metadata.namespace"), "ferry-acme-shop-42");
	ck_assert_int_eq(cJSON_GetArraySize(jget(o, "stringData")), 2);
	ck_assert_str_eq(jstr(o, "stringData.NPM_TOKEN"), "npm-s3cret");
	ck_assert_str_eq(jstr(o, "stringData.REGISTRY_PASSWORD"),
	    "registry-s3cret");
	cJSON_Delete(o);

	ck_assert_int_eq(kube_manifest_secret(&o, &f.run, names, 1, true), 0);
	s = cJSON_PrintUnformatted(o);
	ck_assert_ptr_null(strstr(s, "npm-s3cret"));
	ck_assert_str_eq(jstr(o, "stringData.NPM_TOKEN"), "<redacted>");
	free(s);
	cJSON_Delete(o);

	ck_assert_int_eq(kube_manifest_secret(&o, &f.run, bad, 1, false),
	    ERR_INVALID);
	ck_assert_ptr_null(o);

	ck_assert_int_eq(kube_manifest_rolebinding(&o, &f.run), 0);
	ck_assert_str_eq(jstr(o, "apiVersion"), "rbac.authorization.k8s.io/v1");
	ck_assert_str_eq(jstr(o, "kind"), "RoleBinding");
	ck_assert_str_eq(jstr(o, "metadata.namespace"), "shop-prod");
	ck_assert_str_eq(jstr(o, "metadata.name"), "ferry-acme-shop-42");
	check_run_labels(o);
	ck_assert_int_eq(cJSON_GetArraySize(jget(o, "subjects")), 1);
	ck_assert_str_eq(jstr(o, "subjects.0.kind"), "ServiceAccount");
	ck_assert_str_eq(jstr(o, "subjects.0.name"), KUBE_SA_DEPLOY);
	ck_assert_str_eq(jstr(o, "subjects.0.namespace"),
	    "ferry-acme-shop-42");
	ck_assert_str_eq(jstr(o, "roleRef.kind"), "Role");
	ck_assert_str_eq(jstr(o, "roleRef.name"), "ferry-deployer");
	ck_assert_str_eq(jstr(o, "roleRef.apiGroup"),
	    "rbac.authorization.k8s.io");
	cJSON_Delete(o);
	fixture_dispose(&f);

	/* A repo without a deploy block gets no binding. */
	fixture_init(&f, "http://10.0.0.5:8080", "tools/site");
	ck_assert(!kube_run_can_deploy(&f.run));
	ck_assert_int_eq(kube_manifest_rolebinding(&o, &f.run), ERR_INVALID);
	ck_assert_ptr_null(o);
	fixture_dispose(&f);
}
END_TEST

/* The security contexts "restricted" asks of every container. */
static void
check_restricted_container(const cJSON *c)
{
	ck_assert(jfalse(c, "securityContext.allowPrivilegeEscalation"));
	ck_assert(jtrue(c, "securityContext.runAsNonRoot"));
	ck_assert_int_gt(jnum(c, "securityContext.runAsUser"), 0);
	ck_assert_int_eq(cJSON_GetArraySize(jget(c,
	    "securityContext.capabilities.drop")), 1);
	ck_assert_str_eq(jstr(c, "securityContext.capabilities.drop.0"), "ALL");
	ck_assert_ptr_null(jget(c, "securityContext.capabilities.add"));
	ck_assert_str_eq(jstr(c, "securityContext.seccompProfile.type"),
	    "RuntimeDefault");
	ck_assert(!jtrue(c, "securityContext.privileged"));
}

START_TEST(manifest_job)
{
	static const struct kube_env env[] = { { "LOG_LEVEL", "debug" },
	    { "FERRY_REPO", "evil/override" }, { "CI", "false" },
	    { "NPM_TOKEN", "plain-shadow" } };
	static const char *const secrets[] = { "NPM_TOKEN" };
	struct fixture		 f;
	struct kube_step	 s;
	cJSON			*o, *pod, *c, *init, *e, *v;
	char			*txt;

	fixture_init(&f, "http://10.0.0.5:8080", "acme/shop");
	memset(&s, 0, sizeof(s));
	s.name = "test";
	s.image = "gcc:13";
	s.script = "make check\n";
	s.env = env;
	s.nenv = 4;
	s.secrets = secrets;
	s.nsecrets = 1;
	s.timeout_ms = 90500;
	s.cpu_milli = 250;
	s.memory = 128 * 1024 * 1024;
	ck_assert_int_eq(kube_manifest_job(&o, &f.run, &s), 0);
	ck_assert_str_eq(jstr(o, "apiVersion"), "batch/v1");
	ck_assert_str_eq(jstr(o, "kind"), "Job");
	ck_assert_str_eq(jstr(o, "metadata.name"), "test");
	ck_assert_str_eq(jstr(o, "metadata.namespace"), "ferry-acme-shop-42");
	check_run_labels(o);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(jget(o,
	    "metadata.labels"), KUBE_LABEL_STEP)), "test");
	ck_assert_int_eq(jnum(o, "spec.backoffLimit"), 0);
	ck_assert_int_eq(jnum(o, "spec.activeDeadlineSeconds"), 91);
	ck_assert_int_eq(jnum(o, "spec.ttlSecondsAfterFinished"),
	    KUBE_JOB_TTL_S);
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(jget(o,
	    "spec.template.metadata.labels"), KUBE_LABEL_STEP)), "test");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(jget(o,
	    "spec.template.metadata.labels"), KUBE_LABEL_RUN)), "42");

	pod = jget(o, "spec.template.spec");
	ck_assert_str_eq(jstr(pod, "restartPolicy"), "Never");
	ck_assert(jfalse(pod, "automountServiceAccountToken"));
	ck_assert_str_eq(jstr(pod, "serviceAccountName"), KUBE_SA_STEP);
	ck_assert(jfalse(pod, "enableServiceLinks"));
	ck_assert_int_eq(jnum(pod, "terminationGracePeriodSeconds"), 10);
	ck_assert(jtrue(pod, "securityContext.runAsNonRoot"));
	ck_assert_int_eq(jnum(pod, "securityContext.runAsUser"), KUBE_RUN_AS);
	ck_assert_str_eq(jstr(pod, "securityContext.seccompProfile.type"),
	    "RuntimeDefault");
	ck_assert_ptr_null(jget(pod, "hostNetwork"));
	/* Only emptyDir volumes. */
	cJSON_ArrayForEach(v, jget(pod, "volumes")) {
		ck_assert_int_eq(cJSON_GetArraySize(v), 2);
		ck_assert(cJSON_IsObject(jget(v, "emptyDir")));
	}

	init = jget(pod, "initContainers.0");
	ck_assert_int_eq(cJSON_GetArraySize(jget(pod, "initContainers")), 1);
	ck_assert_str_eq(jstr(init, "name"), KUBE_CONTAINER_SOURCE);
	ck_assert_str_eq(jstr(init, "image"), "busybox:1.36");
	check_restricted_container(init);
	ck_assert(jtrue(init, "securityContext.readOnlyRootFilesystem"));
	ck_assert_ptr_nonnull(strstr(jstr(init, "command.2"),
	    "\"$FERRY_SOURCE_URL\""));
	ck_assert_ptr_nonnull(strstr(jstr(init, "command.2"),
	    "tar -xzf /tmp/source.tar.gz -C /workspace"));
	e = env_find(init, "FERRY_SOURCE_URL");
	ck_assert_str_eq(jstr(e, "valueFrom.secretKeyRef.name"),
	    KUBE_SECRET_SOURCE);
	ck_assert_str_eq(jstr(e, "valueFrom.secretKeyRef.key"), "url");
	/* The source token stays in the Secret, out of the pod spec. */
	txt = cJSON_PrintUnformatted(o);
	ck_assert_ptr_null(strstr(txt, "tok123"));
	free(txt);
	ck_assert_str_eq(jstr(init, "volumeMounts.0.mountPath"), "/workspace");

	c = jget(pod, "containers.0");
	ck_assert_int_eq(cJSON_GetArraySize(jget(pod, "containers")), 1);
	ck_assert_str_eq(jstr(c, "name"), KUBE_CONTAINER_STEP);
	ck_assert_str_eq(jstr(c, "image"), "gcc:13");
	ck_assert_str_eq(jstr(c, "command.0"), "sh");
	ck_assert_str_eq(jstr(c, "command.1"), "-e");
	ck_assert_str_eq(jstr(c, "command.2"), "-c");
	ck_assert_str_eq(jstr(c, "command.3"), "make check\n");
	ck_assert_str_eq(jstr(c, "workingDir"), "/workspace");
	check_restricted_container(c);
	ck_assert_str_eq(jstr(c, "resources.requests.cpu"), "250m");
	ck_assert_str_eq(jstr(c, "resources.limits.cpu"), "250m");
	ck_assert_str_eq(jstr(c, "resources.requests.memory"), "128Mi");
	ck_assert_str_eq(jstr(c, "resources.limits.memory"), "128Mi");
	ck_assert_str_eq(jstr(env_find(c, "CI"), "value"), "true");
	ck_assert_str_eq(jstr(env_find(c, "FERRY_RUN_ID"), "value"), "42");
	ck_assert_str_eq(jstr(env_find(c, "FERRY_REPO"), "value"),
	    "acme/shop");
	ck_assert_str_eq(jstr(env_find(c, "FERRY_BRANCH"), "value"),
	    "master");
	ck_assert_str_eq(jstr(env_find(c, "FERRY_COMMIT"), "value"), SHA);
	ck_assert_str_eq(jstr(env_find(c, "LOG_LEVEL"), "value"), "debug");
	/* Each name once: the run's values win, the secret wins. */
	{
		int	n = 0;

		cJSON_ArrayForEach(e, jget(c, "env")) {
			if (strcmp(jstr(e, "name"), "FERRY_REPO") == 0 ||
			    strcmp(jstr(e, "name"), "CI") == 0 ||
			    strcmp(jstr(e, "name"), "NPM_TOKEN") == 0)
				n++;
		}
		ck_assert_int_eq(n, 3);
	}
	e = env_find(c, "NPM_TOKEN");
	ck_assert_ptr_null(jget(e, "value"));
	ck_assert_str_eq(jstr(e, "valueFrom.secretKeyRef.name"),
	    KUBE_SECRET_STEPS);
	ck_assert_str_eq(jstr(e, "valueFrom.secretKeyRef.key"), "NPM_TOKEN");
	ck_assert_ptr_null(env_find(c, "REGISTRY_PASSWORD"));
	cJSON_Delete(o);

	/* Defaults, a deploy step, no image. */
	memset(&s, 0, sizeof(s));
	s.name = "deploy";
	s.script = "kubectl apply -f k8s/\n";
	s.timeout_ms = 300000;
	s.deploy = true;
	ck_assert_int_eq(kube_manifest_job(&o, &f.run, &s), 0);
	pod = jget(o, "spec.template.spec");
	ck_assert_str_eq(jstr(pod, "serviceAccountName"), KUBE_SA_DEPLOY);
	ck_assert(jtrue(pod, "automountServiceAccountToken"));
	c = jget(pod, "containers.0");
	ck_assert_str_eq(jstr(c, "image"), "busybox:1.36");
	ck_assert_str_eq(jstr(c, "resources.limits.cpu"), "500m");
	ck_assert_str_eq(jstr(c, "resources.limits.memory"), "512Mi");
	ck_assert_int_eq(jnum(o, "spec.activeDeadlineSeconds"), 300);
	ck_assert_ptr_null(env_find(c, "NPM_TOKEN"));
	cJSON_Delete(o);
	fixture_dispose(&f);

	/* deploy: true in a repo without credentials: no token. */
	fixture_init(&f, "http://10.0.0.5:8080", "tools/site");
	ck_assert_int_eq(kube_manifest_job(&o, &f.run, &s), 0);
	ck_assert_str_eq(jstr(o, "spec.template.spec.serviceAccountName"),
	    KUBE_SA_STEP);
	ck_assert(jfalse(o, "spec.template.spec.automountServiceAccountToken"));
	cJSON_Delete(o);

	s.name = "Bad_Name";
	ck_assert_int_eq(kube_manifest_job(&o, &f.run, &s), ERR_INVALID);
	s.name = "ok";
	s.timeout_ms = 0;
	ck_assert_int_eq(kube_manifest_job(&o, &f.run, &s), ERR_INVALID);
	fixture_dispose(&f);
}
END_TEST

START_TEST(manifests_whole_run)
{
	static const char *const order[] = { "Namespace", "ServiceAccount",
	    "ServiceAccount", "ResourceQuota", "LimitRange", "NetworkPolicy",
	    "NetworkPolicy", "NetworkPolicy", "Secret", "Secret", "RoleBinding",
	    "Job", "Job", "Job" };
	struct fixture	 f;
	struct pipeline	*p;
	cJSON		*arr, *o, *job;
	char		*s;
	size_t		 i;

	fixture_init(&f, "http://10.0.0.5:8080", "acme/shop");
	ck_assert_int_eq(pipeline_parse(&p, NULL, pipeline_text,
	    strlen(pipeline_text), NULL), 0);
	ck_assert_int_eq(kube_manifests_run(&arr, &f.run, p, true), 0);
	ck_assert_int_eq(cJSON_GetArraySize(arr), 14);
	i = 0;
	cJSON_ArrayForEach(o, arr) {
		ck_assert_str_eq(jstr(o, "kind"), order[i]);
		if (strcmp(order[i], "Namespace") != 0 &&
		    strcmp(order[i], "RoleBinding") != 0)
			ck_assert_str_eq(jstr(o, "metadata.namespace"),
			    "ferry-acme-shop-42");
		check_run_labels(o);
		i++;
	}
	ck_assert_str_eq(jstr(arr, "1.metadata.name"), KUBE_SA_STEP);
	ck_assert_str_eq(jstr(arr, "2.metadata.name"), KUBE_SA_DEPLOY);
	ck_assert_str_eq(jstr(arr, "9.stringData.NPM_TOKEN"), "<redacted>");
	ck_assert_str_eq(jstr(arr, "9.stringData.REGISTRY_PASSWORD"),
	    "<redacted>");
	s = cJSON_PrintUnformatted(arr);
	ck_assert_ptr_null(strstr(s, "s3cret"));
	free(s);
	/* Jobs in order; only the deploy step can use the deploy account. */
	ck_assert_str_eq(jstr(arr, "7.metadata.name"), "ferry-allow-deploy");
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(jget(arr,
	    "7.spec.podSelector.matchLabels"), KUBE_LABEL_DEPLOY)), "true");
	ck_assert_int_eq(jnum(arr, "7.spec.egress.0.ports.1.port"), 6443);
	ck_assert_str_eq(jstr(arr, "11.metadata.name"), "build");
	ck_assert_str_eq(jstr(arr, "12.metadata.name"), "test");
	ck_assert_str_eq(jstr(arr, "13.metadata.name"), "deploy");
	for (i = 11; i < 14; i++) {
		char	path[16];

		(void)snprintf(path, sizeof(path), "%zu", i);
		job = jget(arr, path);
		ck_assert_str_eq(jstr(job,
		    "spec.template.spec.serviceAccountName"), i == 13 ?
		    KUBE_SA_DEPLOY : KUBE_SA_STEP);
		ck_assert((cJSON_GetObjectItem(jget(job,
		    "spec.template.metadata.labels"), KUBE_LABEL_DEPLOY) !=
		    NULL) == (i == 13));
		ck_assert(cJSON_IsBool(jget(job,
		    "spec.template.spec.automountServiceAccountToken")));
		ck_assert(jtrue(job,
		    "spec.template.spec.automountServiceAccountToken") ==
		    (i == 13));
	}
	/* build: two commands, one script; its env cannot override CI. */
	ck_assert_str_eq(jstr(arr,
	    "11.spec.template.spec.containers.0.command.3"),
	    "make\necho built\n");
	ck_assert_str_eq(jstr(env_find(jget(arr,
	    "11.spec.template.spec.containers.0"), "CI"), "value"), "true");
	ck_assert_str_eq(jstr(env_find(jget(arr,
	    "11.spec.template.spec.containers.0"), "HOME"), "value"), "/tmp");
	ck_assert_ptr_null(env_find(jget(arr,
	    "11.spec.template.spec.containers.0"), "NPM_TOKEN"));
	ck_assert_ptr_nonnull(env_find(jget(arr,
	    "12.spec.template.spec.containers.0"), "NPM_TOKEN"));
	ck_assert_ptr_null(env_find(jget(arr,
	    "12.spec.template.spec.containers.0"), "REGISTRY_PASSWORD"));
	ck_assert_ptr_nonnull(env_find(jget(arr,
	    "13.spec.template.spec.containers.0"), "REGISTRY_PASSWORD"));
	ck_assert_ptr_null(env_find(jget(arr,
	    "13.spec.template.spec.containers.0"), "NPM_TOKEN"));
	cJSON_Delete(arr);
	pipeline_free(p);
	fixture_dispose(&f);
}
END_TEST

START_TEST(yaml_format)
{
	cJSON	*arr = cJSON_CreateArray(), *o = cJSON_CreateObject();
	char	*y;

	cJSON_AddStringToObject(o, "a", "true");
	cJSON_AddTrueToObject(o, "b");
	cJSON_AddStringToObject(o, "c", "8080");
	cJSON_AddNumberToObject(o, "d", 8080);
	cJSON_AddStringToObject(o, "e", "line one\nline two\n");
	cJSON_AddStringToObject(o, "f", "");
	cJSON_AddStringToObject(o, "g", "plain words");
	cJSON_AddStringToObject(o, "h", "no");
	cJSON_AddStringToObject(o, "i", "1.5");
	cJSON_AddStringToObject(o, "j", "key: value");
	cJSON_AddItemToObject(o, "k", cJSON_CreateObject());
	cJSON_AddItemToObject(o, "l", cJSON_CreateArray());
	cJSON_AddItemToArray(arr, o);
	cJSON_AddItemToArray(arr, cJSON_CreateObject());
	ck_assert_int_eq(kube_yaml_format(&y, arr), 0);
	ck_assert_msg(strncmp(y, "---\n", 4) == 0, "%s", y);
	ck_assert_ptr_nonnull(strstr(y, "\na: \"true\"\n"));
	ck_assert_ptr_nonnull(strstr(y, "\nb: true\n"));
	ck_assert_ptr_nonnull(strstr(y, "\nc: \"8080\"\n"));
	ck_assert_ptr_nonnull(strstr(y, "\nd: 8080\n"));
	ck_assert_ptr_nonnull(strstr(y, "\ne: |\n  line one\n  line two\n"));
	ck_assert_ptr_nonnull(strstr(y, "\nf: \"\"\n"));
	ck_assert_ptr_nonnull(strstr(y, "\ng: plain words\n"));
	ck_assert_ptr_nonnull(strstr(y, "\nh: \"no\"\n"));
	ck_assert_ptr_nonnull(strstr(y, "\ni: \"1.5\"\n"));
	ck_assert_ptr_nonnull(strstr(y, "\nj: 'key: value'\n"));
	ck_assert_ptr_nonnull(strstr(y, "\nk: {}\n"));
	ck_assert_ptr_nonnull(strstr(y, "\nl: []\n"));
	ck_assert_ptr_nonnull(strstr(y, "\n--- {}\n"));
	free(y);
	cJSON_Delete(arr);
}
END_TEST

/*
 * Status, paths and the retry policy
 */

START_TEST(status_parse)
{
	static const char body[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	    "\"metadata\":{},\"status\":\"Failure\",\"message\":\"jobs.batch "
	    "\\\"build\\\" already exists\",\"reason\":\"AlreadyExists\","
	    "\"details\":{\"name\":\"build\",\"group\":\"batch\",\"kind\":"
	    "\"jobs\"},\"code\":409}";
	static const char expired[] = "{\"kind\":\"Status\",\"status\":"
	    "\"Failure\",\"message\":\"too old resource version: 1 (2)\","
	    "\"reason\":\"Expired\",\"code\":410}";
	struct kube_status	st;
	char			big[2000];

	kube_status_parse(&st, 409, body, strlen(body));
	ck_assert_int_eq(st.code, 409);
	ck_assert_str_eq(st.reason, "AlreadyExists");
	ck_assert_str_eq(st.message, "jobs.batch \"build\" already exists");

	/* The Status's code wins over the HTTP one (watch ERROR events). */
	kube_status_parse(&st, 200, expired, strlen(expired));
	ck_assert_int_eq(st.code, 410);
	ck_assert_str_eq(st.reason, "Expired");

	kube_status_parse(&st, 503, "upstream connect error\nmore", 27);
	ck_assert_int_eq(st.code, 503);
	ck_assert_str_eq(st.reason, "ServiceUnavailable");
	ck_assert_str_eq(st.message, "upstream connect error");

	kube_status_parse(&st, 404, NULL, 0);
	ck_assert_str_eq(st.reason, "NotFound");
	ck_assert_str_eq(st.message, "");

	kube_status_parse(&st, 422, "{\"kind\":\"Status\",\"code\":422}", 28);
	ck_assert_str_eq(st.reason, "Invalid");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kube_status_parse(&st, 500, big, strlen(big));
	ck_assert_uint_eq(strlen(st.message), sizeof(st.message) - 1);
}
END_TEST

/* What a watch stream's events did, for watch_parse. */
struct seen_events {
	char	types[8][16];
	char	names[8][32];
	int	n;
	int	stop_at;	/* return nonzero at this event (1-based) */
};

static int
seen_event(void *arg, const char *type, const cJSON *obj)
{
	struct seen_events	*s = arg;
	const char		*name;

	name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name"));
	if (s->n < 8) {
		snprintf(s->types[s->n], sizeof(s->types[0]), "%s", type);
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s",
		    name != NULL ? name : "-");
	}
	s->n++;
	return s->n == s->stop_at;
}

/* The stream cut into pieces of size step (the last may be shorter). */
static int
watch_parse_steps(struct kube_watch *w, struct seen_events *s,
    const char *text, size_t step)
{
	const char	*pieces[1024];
	size_t		 lens[1024], n = 0, off, len = strlen(text);

	ck_assert_uint_le(len, 1024);
	for (off = 0; off < len; off += step, n++) {
		pieces[n] = text + off;
		lens[n] = len - off < step ? len - off : step;
	}
	return kube_watch_parse(w, seen_event, s, pieces, lens, n);
}

START_TEST(watch_parse)
{
	static const char stream[] =
	    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
	    "{\"name\":\"a\",\"resourceVersion\":\"11\"}}}\n"
	    "\r\n"
	    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\","
	    "\"metadata\":{\"resourceVersion\":\"15\"}}}\n"
	    "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\","
	    "\"metadata\":{\"name\":\"b\",\"resourceVersion\":\"17\"}}}";
	static const char gone[] =
	    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\","
	    "\"resourceVersion\":\"3\"}}}\n"
	    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
	    "\"status\":\"Failure\",\"message\":\"too old resource version"
	    "\",\"reason\":\"Expired\",\"code\":410}}\n"
	    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}}\n";
	struct kube_watch	w;
	struct seen_events	s;
	size_t			step;

	/* However the bytes arrive: two events, the bookmark only moves
	   the version, the last event needs no newline. */
	for (step = 1; step <= sizeof(stream); step += 7) {
		memset(&w, 0, sizeof(w));
		memset(&s, 0, sizeof(s));
		w.kind = KUBE_POD;
		ck_assert_int_eq(watch_parse_steps(&w, &s, stream, step), 0);
		ck_assert_int_eq(s.n, 2);
		ck_assert_str_eq(s.types[0], "ADDED");
		ck_assert_str_eq(s.names[0], "a");
		ck_assert_str_eq(s.types[1], "MODIFIED");
		ck_assert_str_eq(s.names[1], "b");
		ck_assert_str_eq(w.resource_version, "17");
		ck_assert(!w.gone);
	}
	/* The callback stops it: nothing after, the version of the last. */
	memset(&w, 0, sizeof(w));
	memset(&s, 0, sizeof(s));
	s.stop_at = 1;
	ck_assert_int_eq(watch_parse_steps(&w, &s, stream, 5), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(w.resource_version, "11");
	/* 410 in the stream: gone, version emptied, nothing after it. */
	memset(&w, 0, sizeof(w));
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(watch_parse_steps(&w, &s, gone, 3), ERR_UPSTREAM);
	ck_assert(w.gone);
	ck_assert_str_eq(w.resource_version, "");
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(kube_status_last()->code, 410);
	/* Not JSON, or no type: the watch ends with an error. */
	memset(&w, 0, sizeof(w));
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(watch_parse_steps(&w, &s, "<html>\n", 64),
	    ERR_UPSTREAM);
	ck_assert_ptr_nonnull(strstr(err_msg(), "not JSON"));
	ck_assert_int_eq(watch_parse_steps(&w, &s,
	    "{\"object\":{}}\n", 64), ERR_UPSTREAM);
	ck_assert_ptr_nonnull(strstr(err_msg(), "no type"));
	ck_assert_int_eq(s.n, 0);
	/* A type the API does not send is passed over. */
	ck_assert_int_eq(watch_parse_steps(&w, &s,
	    "{\"type\":\"\",\"object\":{}}\n{\"type\":\"SYNC\",\"object\":"
	    "{}}\n{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":"
	    "\"c\"}}}\n", 64), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert_str_eq(s.types[0], "DELETED");
}
END_TEST

START_TEST(paths)
{
	char	*p;

	p = kube_path(KUBE_JOB, "ferry-acme-shop-42", "build");
	ck_assert_str_eq(p, "/apis/batch/v1/namespaces/ferry-acme-shop-42/"
	    "jobs/build");
	free(p);
	p = kube_path(KUBE_NAMESPACE, "ignored", "ferry-x-1");
	ck_assert_str_eq(p, "/api/v1/namespaces/ferry-x-1");
	free(p);
	p = kube_path(KUBE_NAMESPACE, NULL, NULL);
	ck_assert_str_eq(p, "/api/v1/namespaces");
	free(p);
	p = kube_path(KUBE_POD, NULL, NULL);
	ck_assert_str_eq(p, "/api/v1/pods");
	free(p);
	p = kube_path(KUBE_ROLEBINDING, "shop-prod", "a b");
	ck_assert_str_eq(p, "/apis/rbac.authorization.k8s.io/v1/namespaces/"
	    "shop-prod/rolebindings/a%20b");
	free(p);
	p = kube_path(KUBE_NETWORKPOLICY, "n", NULL);
	ck_assert_str_eq(p, "/apis/networking.k8s.io/v1/namespaces/n/"
	    "networkpolicies");
	free(p);
	ck_assert_int_eq(kube_kind_of("batch/v1", "Job"), KUBE_JOB);
	ck_assert_int_eq(kube_kind_of("v1", "Secret"), KUBE_SECRET);
	ck_assert_int_eq(kube_kind_of("apps/v1", "Deployment"), -1);
	ck_assert_str_eq(kube_kind_plural(KUBE_RESOURCEQUOTA),
	    "resourcequotas");
}
END_TEST

START_TEST(retry_policy)
{
	struct kube_opts	o;
	uint32_t		r;
	int64_t			d, base;
	int			a;

	memset(&o, 0, sizeof(o));
	o.backoff_ms = 100;
	o.backoff_max_ms = 1000;
	o.max_attempts = 5;
	/* Which answers are retried. */
	ck_assert_int_ge(kube_retry_delay_ms(&o, 1, 0, "", -1, 0), 0);
	ck_assert_int_ge(kube_retry_delay_ms(&o, 1, 500, "", -1, 0), 0);
	ck_assert_int_ge(kube_retry_delay_ms(&o, 1, 502, "", -1, 0), 0);
	ck_assert_int_ge(kube_retry_delay_ms(&o, 1, 503, "", -1, 0), 0);
	ck_assert_int_ge(kube_retry_delay_ms(&o, 1, 504, "", -1, 0), 0);
	ck_assert_int_ge(kube_retry_delay_ms(&o, 1, 429, "", -1, 0), 0);
	ck_assert_int_ge(kube_retry_delay_ms(&o, 1, 409, "Conflict", -1, 0),
	    0);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 409, "AlreadyExists", -1,
	    0), -1);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 400, "", -1, 0), -1);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 401, "", -1, 0), -1);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 403, "", -1, 0), -1);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 404, "", -1, 0), -1);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 410, "Expired", -1, 0),
	    -1);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 422, "", -1, 0), -1);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 200, "", -1, 0), -1);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 201, "", -1, 0), -1);
	/* Never past max_attempts. */
	ck_assert_int_ge(kube_retry_delay_ms(&o, 4, 503, "", -1, 0), 0);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 5, 503, "", -1, 0), -1);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 9, 0, "", -1, 0), -1);
	/* Exponential, capped, with jitter in [d/2, d]. */
	for (a = 1; a <= 4; a++) {
		base = 100LL << (a - 1);
		if (base > 1000)
			base = 1000;
		ck_assert_int_eq(kube_retry_delay_ms(&o, a, 503, "", -1, 0),
		    base / 2);
		ck_assert_int_eq(kube_retry_delay_ms(&o, a, 503, "", -1,
		    (uint32_t)(base - base / 2)), base);
		for (r = 0; r < 100000; r += 7919) {
			d = kube_retry_delay_ms(&o, a, 0, "", -1,
			    r * 2654435761u);
			ck_assert_int_ge(d, base / 2);
			ck_assert_int_le(d, base);
		}
	}
	/* Retry-After is honoured, within reason. */
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 429, "", 3000, 0), 3000);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 429, "", 600000, 0),
	    60000);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 503, "", 2000, 0), 2000);
	ck_assert_int_eq(kube_retry_delay_ms(&o, 1, 429, "", 0, 0), 50);
	/* Defaults when no options are given. */
	ck_assert_int_eq(kube_retry_delay_ms(NULL, 1, 503, "", -1, 0), 100);
	ck_assert_int_eq(kube_retry_delay_ms(NULL, 6, 503, "", -1, 0), -1);

	ck_assert_int_eq(kube_retry_after_parse("3"), 3000);
	ck_assert_int_eq(kube_retry_after_parse(" 10"), 10000);
	ck_assert_int_eq(kube_retry_after_parse("Wed, 21 Oct 2015 07:28:00 "
	    "GMT"), -1);
	ck_assert_int_eq(kube_retry_after_parse("-1"), -1);
	ck_assert_int_eq(kube_retry_after_parse(NULL), -1);
}
END_TEST

/*
 * The client against a scripted HTTP server on 127.0.0.1
 */

#define SRV_MAX		32

struct reply {
	int		 code;
	const char	*headers;	/* extra header lines, "\r\n" each */
	const char	*body;
	bool		 stream;	/* no Content-Length, then close */
};

struct seen {
	char	*method;
	char	*target;
	char	*headers;
	char	*body;
};

struct srv {
	int		 lfd;
	int		 port;
	pthread_t	 th;
	const struct reply *replies;
	size_t		 nreplies;
	size_t		 next;
	struct seen	 seen[SRV_MAX];
	size_t		 nseen;
	int		 accepts;
	pthread_t	 conns[SRV_MAX];
	pthread_mutex_t	 mtx;
};

/* Reads one request; 0, or -1 at EOF/error. */
static int
srv_read(struct srv *s, int fd, struct buf *in)
{
	char		 chunk[4096], *end, *cl, *line;
	size_t		 hlen, blen = 0;
	ssize_t		 n;
	struct seen	*sn;

	while ((end = in->data != NULL ? strstr(in->data, "\r\n\r\n") :
	    NULL) == NULL) {
		if ((n = read(fd, chunk, sizeof(chunk))) <= 0)
			return -1;
		ck_assert_int_eq(buf_append(in, chunk, (size_t)n), 0);
	}
	hlen = (size_t)(end - in->data) + 4;
	if ((cl = strcasestr(in->data, "\r\nContent-Length:")) != NULL &&
	    cl < end)
		blen = (size_t)strtoul(cl + 17, NULL, 10);
	while (in->len < hlen + blen) {
		if ((n = read(fd, chunk, sizeof(chunk))) <= 0)
			return -1;
		ck_assert_int_eq(buf_append(in, chunk, (size_t)n), 0);
	}
	pthread_mutex_lock(&s->mtx);
	if (s->nseen < SRV_MAX) {
		sn = &s->seen[s->nseen++];
		line = xstrndup(in->data, strcspn(in->data, "\r\n"));
		sn->method = xstrndup(line, strcspn(line, " "));
		sn->target = xstrndup(line + strlen(sn->method) + 1,
		    strcspn(line + strlen(sn->method) + 1, " "));
		free(line);
		sn->headers = xstrndup(in->data, hlen);
		sn->body = xstrndup(in->data + hlen, blen);
	}
	pthread_mutex_unlock(&s->mtx);
	/* Keep what follows (a pipelined request). */
	memmove(in->data, in->data + hlen + blen, in->len - hlen - blen + 1);
	in->len -= hlen + blen;
	return 0;
}

static void
write_all(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = write(fd, p, n)) <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

struct conn {
	struct srv	*s;
	int		 fd;
};

static void *
conn_main(void *arg)
{
	struct conn		*cn = arg;
	struct srv		*s = cn->s;
	const struct reply	*r;
	struct buf		 in;
	char			*head;

	buf_init(&in, 1024 * 1024);
	while (srv_read(s, cn->fd, &in) == 0) {
		static const struct reply none = { 500, NULL,
		    "no reply scripted", false };

		pthread_mutex_lock(&s->mtx);
		r = s->next < s->nreplies ? &s->replies[s->next++] : &none;
		pthread_mutex_unlock(&s->mtx);
		if (r->stream)
			head = xasprintf("HTTP/1.1 %d X\r\n"
			    "Content-Type: application/json\r\n%s"
			    "Connection: close\r\n\r\n", r->code,
			    r->headers ? r->headers : "");
		else
			head = xasprintf("HTTP/1.1 %d X\r\n"
			    "Content-Type: application/json\r\n%s"
			    "Content-Length: %zu\r\n\r\n", r->code,
			    r->headers ? r->headers : "",
			    strlen(r->body ? r->body : ""));
		write_all(cn->fd, head, strlen(head));
		free(head);
		if (r->body != NULL)
			write_all(cn->fd, r->body, strlen(r->body));
		if (r->stream)
			break;
	}
	buf_dispose(&in);
	close(cn->fd);
	free(cn);
	return NULL;
}

static void *
srv_main(void *arg)
{
	struct srv	*s = arg;
	struct conn	*cn;
	int		 fd;

	for (;;) {
		if ((fd = accept(s->lfd, NULL, NULL)) < 0)
			break;
		cn = xcalloc(1, sizeof(*cn));
		cn->s = s;
		cn->fd = fd;
		pthread_mutex_lock(&s->mtx);
		if (s->accepts < SRV_MAX &&
		    pthread_create(&s->conns[s->accepts], NULL, conn_main,
		    cn) == 0)
			s->accepts++;
		else {
			close(fd);
			free(cn);
		}
		pthread_mutex_unlock(&s->mtx);
	}
	return NULL;
}

static void
srv_start(struct srv *s, const struct reply *replies, size_t n)
{
	struct sockaddr_in	sa;
	socklen_t		len = sizeof(sa);
	int			one = 1;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mtx, NULL);
	s->replies = replies;
	s->nreplies = n;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s->lfd, 0);
	setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s->lfd, 8), 0);
	ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	ck_assert_int_eq(pthread_create(&s->th, NULL, srv_main, s), 0);
}

/* Stops accepting and waits for the connections (close the client first). */
static void
srv_stop(struct srv *s)
{
	int	i;

	shutdown(s->lfd, SHUT_RDWR);
	close(s->lfd);
	pthread_join(s->th, NULL);
	for (i = 0; i < s->accepts; i++)
		pthread_join(s->conns[i], NULL);
}

static void
srv_free(struct srv *s)
{
	size_t	i;

	for (i = 0; i < s->nseen; i++) {
		free(s->seen[i].method);
		free(s->seen[i].target);
		free(s->seen[i].headers);
		free(s->seen[i].body);
	}
	pthread_mutex_destroy(&s->mtx);
}

/* A client for the server, with a token and fast retries. */
static struct kube *
client_for(const struct srv *s, const char *token, const char *token_file)
{
	struct kube_config	*c = xcalloc(1, sizeof(*c));
	struct kube_opts	 o;
	struct kube		*k;

	c->server = xasprintf("http://127.0.0.1:%d", s->port);
	c->token = token != NULL ? xstrdup(token) : NULL;
	c->token_file = token_file != NULL ? xstrdup(token_file) : NULL;
	memset(&o, 0, sizeof(o));
	o.backoff_ms = 1;
	o.backoff_max_ms = 5;
	o.max_attempts = 4;
	o.timeout_ms = 5000;
	ck_assert_int_eq(kube_new(&k, c, &o), 0);
	return k;
}

static cJSON *
sample_job(void)
{
	cJSON	*o = cJSON_Parse("{\"apiVersion\":\"batch/v1\","
	    "\"kind\":\"Job\","
	    "\"metadata\":{\"name\":\"build\",\"namespace\":\"ns1\"},"
	    "\"spec\":{}}");

	ck_assert_ptr_nonnull(o);
	return o;
}

static const char already[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\","
    "\"status\":\"Failure\",\"message\":\"jobs.batch \\\"build\\\" already "
    "exists\",\"reason\":\"AlreadyExists\",\"code\":409}";
static const char notfound[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\","
    "\"status\":\"Failure\",\"message\":\"jobs.batch \\\"x\\\" not found\","
    "\"reason\":\"NotFound\",\"code\":404}";
static const char forbidden[] = "{\"kind\":\"Status\",\"apiVersion\":\"v1\","
    "\"status\":\"Failure\",\"message\":\"jobs.batch is forbidden: User "
    "\\\"x\\\" cannot create\",\"reason\":\"Forbidden\",\"code\":403}";

START_TEST(client_create_and_adopt)
{
	static const struct reply replies[] = {
		{ 201, NULL, "{\"kind\":\"Job\",\"metadata\":{\"name\":"
		    "\"build\",\"uid\":\"u1\"}}", false },
		{ 409, NULL, already, false },
		{ 200, NULL, "{\"kind\":\"Job\",\"metadata\":{\"name\":"
		    "\"build\",\"uid\":\"u0\"}}", false },
	};
	struct srv	 s;
	struct kube	*k;
	cJSON		*job = sample_job(), *out;
	bool		 adopted;
	uint64_t	 before = metrics_counter(METRICS_KUBE_REQUESTS, "201",
	    NULL);

	srv_start(&s, replies, 3);
	k = client_for(&s, "tok-1", NULL);
	ck_assert_int_eq(kube_create(&out, &adopted, k, job), 0);
	ck_assert(!adopted);
	ck_assert_str_eq(jstr(out, "metadata.uid"), "u1");
	cJSON_Delete(out);
	ck_assert_int_eq(kube_create(&out, &adopted, k, job), 0);
	ck_assert(adopted);
	ck_assert_str_eq(jstr(out, "metadata.uid"), "u0");
	cJSON_Delete(out);
	kube_free(k);
	srv_stop(&s);

	ck_assert_uint_eq(s.nseen, 3);
	ck_assert_str_eq(s.seen[0].method, "POST");
	ck_assert_str_eq(s.seen[0].target, "/apis/batch/v1/namespaces/ns1/"
	    "jobs?fieldManager=ferry&fieldValidation=Strict");
	ck_assert_ptr_nonnull(strcasestr(s.seen[0].headers,
	    "\r\nContent-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(s.seen[0].headers,
	    "\r\nAuthorization: Bearer tok-1\r\n"));
	ck_assert_ptr_nonnull(strstr(s.seen[0].body, "\"name\":\"build\""));
	ck_assert_str_eq(s.seen[2].method, "GET");
	ck_assert_str_eq(s.seen[2].target,
	    "/apis/batch/v1/namespaces/ns1/jobs/build");
	/* One connection for all three. */
	ck_assert_int_eq(s.accepts, 1);
	ck_assert_uint_eq(metrics_counter(METRICS_KUBE_REQUESTS, "201", NULL),
	    before + 1);
	cJSON_Delete(job);
	srv_free(&s);
}
END_TEST

START_TEST(client_errors)
{
	static const struct reply replies[] = {
		{ 404, NULL, notfound, false },
		{ 403, NULL, forbidden, false },
		{ 422, NULL, "{\"kind\":\"Status\",\"reason\":\"Invalid\","
		    "\"message\":\"Job.batch \\\"x\\\" is invalid\","
		    "\"code\":422}", false },
	};
	struct srv	 s;
	struct kube	*k;
	cJSON		*out, *job = sample_job();

	srv_start(&s, replies, 3);
	k = client_for(&s, NULL, NULL);
	ck_assert_int_eq(kube_get(&out, k, KUBE_JOB, "ns1", "x"),
	    ERR_NOTFOUND);
	ck_assert_ptr_null(out);
	ck_assert_str_eq(err_msg(), "get jobs ns1/x: NotFound: jobs.batch "
	    "\"x\" not found");
	ck_assert_int_eq(kube_status_last()->code, 404);
	ck_assert_int_eq(kube_create(&out, NULL, k, job), ERR_AUTH);
	ck_assert_ptr_nonnull(strstr(err_msg(), "create jobs ns1/build: "
	    "Forbidden: "));
	ck_assert_str_eq(kube_status_last()->reason, "Forbidden");
	ck_assert_int_eq(kube_create(&out, NULL, k, job), ERR_INVALID);
	kube_free(k);
	srv_stop(&s);
	/* 4xx are never retried: three requests for three calls. */
	ck_assert_uint_eq(s.nseen, 3);
	ck_assert_ptr_null(strcasestr(s.seen[0].headers, "Authorization"));
	cJSON_Delete(job);
	srv_free(&s);
}
END_TEST

START_TEST(client_retries)
{
	static const struct reply replies[] = {
		{ 503, NULL, "overloaded", false },
		{ 500, NULL, "{\"kind\":\"Status\",\"code\":500}", false },
		{ 200, NULL, "{\"metadata\":{\"name\":\"x\"}}", false },
		{ 429, "Retry-After: 1\r\n", "{\"kind\":\"Status\",\"reason\":"
		    "\"TooManyRequests\",\"code\":429}", false },
		{ 200, NULL, "{\"metadata\":{\"name\":\"y\"}}", false },
		{ 502, NULL, "", false },
		{ 502, NULL, "", false },
		{ 502, NULL, "", false },
		{ 502, NULL, "", false },
	};
	struct srv	 s;
	struct kube	*k;
	cJSON		*out;
	int64_t		 t0;

	srv_start(&s, replies, 9);
	k = client_for(&s, NULL, NULL);
	ck_assert_int_eq(kube_get(&out, k, KUBE_POD, "ns", "x"), 0);
	ck_assert_str_eq(jstr(out, "metadata.name"), "x");
	cJSON_Delete(out);
	ck_assert_uint_eq(s.nseen, 3);

	t0 = time_mono_ms();
	ck_assert_int_eq(kube_get(&out, k, KUBE_POD, "ns", "y"), 0);
	ck_assert_int_ge(time_mono_ms() - t0, 1000);
	cJSON_Delete(out);

	/* Gives up after max_attempts (4), with the last answer. */
	ck_assert_int_eq(kube_get(&out, k, KUBE_POD, "ns", "z"), ERR_UPSTREAM);
	ck_assert_ptr_nonnull(strstr(err_msg(), "get pods ns/z: "));
	ck_assert_int_eq(kube_status_last()->code, 502);
	kube_free(k);
	srv_stop(&s);
	ck_assert_uint_eq(s.nseen, 9);
	srv_free(&s);
}
END_TEST

START_TEST(client_no_answer)
{
	struct kube_config	*c = xcalloc(1, sizeof(*c));
	struct kube_opts	 o;
	struct kube		*k;
	cJSON			*out;
	struct sockaddr_in	 sa;
	socklen_t		 len = sizeof(sa);
	int			 fd, port;
	uint64_t		 before;

	/* A port nobody listens on. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	c->server = xasprintf("http://127.0.0.1:%d", port);
	memset(&o, 0, sizeof(o));
	o.backoff_ms = 1;
	o.max_attempts = 3;
	ck_assert_int_eq(kube_new(&k, c, &o), 0);
	before = metrics_counter(METRICS_KUBE_REQUESTS, "error", NULL);
	ck_assert_int_eq(kube_get(&out, k, KUBE_NAMESPACE, NULL, "x"),
	    ERR_UPSTREAM);
	ck_assert_int_eq(kube_status_last()->code, 0);
	ck_assert_uint_eq(metrics_counter(METRICS_KUBE_REQUESTS, "error",
	    NULL), before + 3);
	kube_free(k);

	c = xcalloc(1, sizeof(*c));
	c->server = xstrdup("ftp://x");
	ck_assert_int_eq(kube_new(&k, c, NULL), ERR_INVALID);
}
END_TEST

START_TEST(client_list_patch_delete)
{
	static const struct reply replies[] = {
		{ 200, NULL, "{\"kind\":\"JobList\",\"metadata\":{"
		    "\"resourceVersion\":\"100\",\"continue\":\"c1\"},"
		    "\"items\":[{\"metadata\":{\"name\":\"a\"}}]}", false },
		{ 200, NULL, "{\"kind\":\"JobList\",\"metadata\":{"
		    "\"resourceVersion\":\"100\"},\"items\":[{\"metadata\":"
		    "{\"name\":\"b\"}},{\"metadata\":{\"name\":\"c\"}}]}",
		    false },
		{ 200, NULL, "{\"metadata\":{\"name\":\"ns1\"}}", false },
		{ 200, NULL, "{\"kind\":\"Status\",\"status\":\"Success\"}",
		    false },
		{ 404, NULL, notfound, false },
	};
	struct srv	 s;
	struct kube	*k;
	cJSON		*out, *patch;

	srv_start(&s, replies, 5);
	k = client_for(&s, NULL, NULL);
	ck_assert_int_eq(kube_list(&out, k, KUBE_JOB, "ns1",
	    "ferry.dev/run=42,ferry.dev/step in (a,b)"), 0);
	ck_assert_int_eq(cJSON_GetArraySize(jget(out, "items")), 3);
	ck_assert_str_eq(jstr(out, "items.2.metadata.name"), "c");
	ck_assert_str_eq(jstr(out, "metadata.resourceVersion"), "100");
	ck_assert_ptr_null(jget(out, "metadata.continue"));
	cJSON_Delete(out);

	patch = cJSON_Parse("{\"metadata\":{\"labels\":{\"x\":\"y\"}}}");
	ck_assert_int_eq(kube_patch(&out, k, KUBE_NAMESPACE, NULL, "ns1",
	    KUBE_PATCH_MERGE, patch), 0);
	cJSON_Delete(out);
	cJSON_Delete(patch);
	ck_assert_int_eq(kube_delete(k, KUBE_NAMESPACE, NULL, "ns1",
	    KUBE_PROPAGATE_FOREGROUND, 10), 0);
	/* Already gone counts as deleted. */
	ck_assert_int_eq(kube_delete(k, KUBE_JOB, "ns1", "x",
	    KUBE_PROPAGATE_BACKGROUND, -1), 0);
	kube_free(k);
	srv_stop(&s);

	ck_assert_uint_eq(s.nseen, 5);
	ck_assert_str_eq(s.seen[0].target, "/apis/batch/v1/namespaces/ns1/"
	    "jobs?limit=500&labelSelector=ferry.dev%2Frun%3D42%2Cferry.dev%2F"
	    "step%20in%20%28a%2Cb%29");
	ck_assert_ptr_nonnull(strstr(s.seen[1].target, "&continue=c1"));
	ck_assert_str_eq(s.seen[2].method, "PATCH");
	ck_assert_str_eq(s.seen[2].target,
	    "/api/v1/namespaces/ns1?fieldManager=ferry");
	ck_assert_ptr_nonnull(strcasestr(s.seen[2].headers,
	    "\r\nContent-Type: application/merge-patch+json\r\n"));
	ck_assert_str_eq(s.seen[2].body, "{\"metadata\":{\"labels\":"
	    "{\"x\":\"y\"}}}");
	ck_assert_str_eq(s.seen[3].method, "DELETE");
	ck_assert_str_eq(s.seen[3].target, "/api/v1/namespaces/ns1?"
	    "propagationPolicy=Foreground&gracePeriodSeconds=10");
	ck_assert_str_eq(s.seen[4].target, "/apis/batch/v1/namespaces/ns1/"
	    "jobs/x?propagationPolicy=Background");
	srv_free(&s);
}
END_TEST

struct events {
	int	 n;
	char	 types[8][16];
	char	 names[8][32];
	int	 stop_after;
};

static int
on_event(void *arg, const char *type, const cJSON *obj)
{
	struct events	*ev = arg;

	if (ev->n < 8) {
		(void)snprintf(ev->types[ev->n], 16, "%s", type);
		(void)snprintf(ev->names[ev->n], 32, "%s",
		    jstr(obj, "metadata.name"));
	}
	ev->n++;
	return ev->stop_after > 0 && ev->n >= ev->stop_after;
}

START_TEST(client_watch)
{
	static const struct reply replies[] = {
		{ 200, NULL,
		    "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Job\","
		    "\"metadata\":{\"name\":\"a\","
		    "\"resourceVersion\":\"10\"}}}\n"
		    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Job\","
		    "\"metadata\":{\"resourceVersion\":\"12\"}}}\n"
		    "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Job\","
		    "\"metadata\":{\"name\":\"a\","
		    "\"resourceVersion\":\"13\"}}}\n"
		    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Job\","
		    "\"metadata\":{\"resourceVersion\":\"15\"}}}\n", true },
		{ 200, NULL,
		    "{\"type\":\"DELETED\",\"object\":{\"kind\":\"Job\","
		    "\"metadata\":{\"name\":\"a\","
		    "\"resourceVersion\":\"16\"}}}\n"
		    "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
		    "\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
		    "\"too old resource version: 15 (20)\",\"reason\":"
		    "\"Expired\",\"code\":410}}\n", true },
		{ 410, NULL, "{\"kind\":\"Status\",\"reason\":\"Expired\","
		    "\"message\":\"too old\",\"code\":410}", false },
		{ 200, NULL,
		    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":"
		    "\"p\",\"resourceVersion\":\"30\"}}}\n"
		    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":"
		    "\"q\",\"resourceVersion\":\"31\"}}}\n", true },
	};
	struct srv		 s;
	struct kube		*k;
	struct kube_watch	 w;
	struct events		 ev;

	srv_start(&s, replies, 4);
	k = client_for(&s, NULL, NULL);
	memset(&w, 0, sizeof(w));
	w.kind = KUBE_JOB;
	w.ns = "ns1";
	w.selector = "ferry.dev/run=42";
	w.timeout_s = 60;
	(void)snprintf(w.resource_version, sizeof(w.resource_version), "9");
	memset(&ev, 0, sizeof(ev));
	ck_assert_int_eq(kube_watch(k, &w, on_event, &ev), 0);
	ck_assert_int_eq(ev.n, 2);
	ck_assert_str_eq(ev.types[0], "ADDED");
	ck_assert_str_eq(ev.types[1], "MODIFIED");
	ck_assert_str_eq(w.resource_version, "15");
	ck_assert(!w.gone);

	/* Resumes from 15; an ERROR 410 event means relist. */
	ck_assert_int_eq(kube_watch(k, &w, on_event, &ev), ERR_UPSTREAM);
	ck_assert(w.gone);
	ck_assert_int_eq(ev.n, 3);
	ck_assert_str_eq(ev.types[2], "DELETED");
	ck_assert_str_eq(w.resource_version, "");
	ck_assert_ptr_nonnull(strstr(err_msg(), "Expired"));

	/* 410 as the answer. */
	(void)snprintf(w.resource_version, sizeof(w.resource_version), "1");
	ck_assert_int_eq(kube_watch(k, &w, on_event, &ev), ERR_UPSTREAM);
	ck_assert(w.gone);

	/* The callback stops it. */
	memset(&ev, 0, sizeof(ev));
	ev.stop_after = 1;
	w.ns = NULL;
	w.kind = KUBE_POD;
	w.selector = NULL;
	ck_assert_int_eq(kube_watch(k, &w, on_event, &ev), 0);
	ck_assert_int_eq(ev.n, 1);
	ck_assert_str_eq(w.resource_version, "30");
	kube_free(k);
	srv_stop(&s);

	ck_assert_uint_eq(s.nseen, 4);
	ck_assert_str_eq(s.seen[0].target, "/apis/batch/v1/namespaces/ns1/"
	    "jobs?watch=1&allowWatchBookmarks=true&timeoutSeconds=60&"
	    "resourceVersion=9&labelSelector=ferry.dev%2Frun%3D42");
	ck_assert_ptr_nonnull(strstr(s.seen[1].target, "resourceVersion=15"));
	ck_assert_str_eq(s.seen[3].target, "/api/v1/pods?watch=1&"
	    "allowWatchBookmarks=true&timeoutSeconds=60");
	srv_free(&s);
}
END_TEST

static int
collect(void *arg, const char *data, size_t len)
{
	return buf_append(arg, data, len) == 0 ? 0 : 1;
}

START_TEST(client_logs)
{
	static const struct reply replies[] = {
		{ 200, NULL, "step output 1\nstep output 2\n", true },
		{ 400, NULL, "{\"kind\":\"Status\",\"reason\":\"BadRequest\","
		    "\"message\":\"container \\\"step\\\" in pod \\\"p\\\" is "
		    "waiting to start: PodInitializing\",\"code\":400}",
		    false },
	};
	struct srv		 s;
	struct kube		*k;
	struct kube_log_opts	 o;
	struct buf		 b;

	srv_start(&s, replies, 2);
	k = client_for(&s, NULL, NULL);
	memset(&o, 0, sizeof(o));
	o.container = "step";
	o.follow = true;
	o.timestamps = true;
	buf_init(&b, 4096);
	ck_assert_int_eq(kube_log_stream(k, "ns1", "build-x7k2p", &o, collect,
	    &b), 0);
	ck_assert_str_eq(b.data, "step output 1\nstep output 2\n");
	ck_assert_int_eq(kube_log_stream(k, "ns1", "p", &o, collect, &b),
	    ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "waiting to start"));
	ck_assert_str_eq(b.data, "step output 1\nstep output 2\n");
	buf_dispose(&b);
	kube_free(k);
	srv_stop(&s);
	ck_assert_str_eq(s.seen[0].target, "/api/v1/namespaces/ns1/pods/"
	    "build-x7k2p/log?container=step&follow=true&timestamps=true");
	srv_free(&s);
}
END_TEST

START_TEST(client_token_file_rotation)
{
	static const struct reply replies[] = {
		{ 200, NULL, "{}", false },
		{ 200, NULL, "{}", false },
		{ 200, NULL, "{}", false },
		{ 200, NULL, "{}", false },
	};
	struct srv	 s;
	struct kube	*k;
	cJSON		*out;
	char		*d = temp_dir(), *tf;
	struct timespec	 ts[2];

	tf = xasprintf("%s/token", d);
	write_file(tf, "first-token\n");
	srv_start(&s, replies, 4);
	k = client_for(&s, "inline-fallback", tf);
	ck_assert_int_eq(kube_get(&out, k, KUBE_NAMESPACE, NULL, "a"), 0);
	cJSON_Delete(out);
	/* The kubelet rotates the token: same size, new content. */
	write_file(tf, "other-token\n");
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) + 5;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	ck_assert_int_eq(utimensat(AT_FDCWD, tf, ts, 0), 0);
	ck_assert_int_eq(kube_get(&out, k, KUBE_NAMESPACE, NULL, "a"), 0);
	cJSON_Delete(out);
	/* Unreadable: the last token read stays in use. */
	ck_assert_int_eq(unlink(tf), 0);
	ck_assert_int_eq(kube_get(&out, k, KUBE_NAMESPACE, NULL, "a"), 0);
	cJSON_Delete(out);
	kube_free(k);
	srv_stop(&s);
	ck_assert_ptr_nonnull(strstr(s.seen[0].headers,
	    "Authorization: Bearer first-token\r\n"));
	ck_assert_ptr_nonnull(strstr(s.seen[1].headers,
	    "Authorization: Bearer other-token\r\n"));
	ck_assert_ptr_nonnull(strstr(s.seen[2].headers,
	    "Authorization: Bearer other-token\r\n"));
	rm_rf(d);
	free(d);
	free(tf);
	srv_free(&s);
}
END_TEST

/* Threads sharing one client, each making calls. */
struct par {
	struct kube	*k;
	int		 ok;
};

static void *
par_main(void *arg)
{
	struct par	*p = arg;
	cJSON		*out;
	int		 i;

	for (i = 0; i < 4; i++) {
		if (kube_get(&out, p->k, KUBE_NAMESPACE, NULL, "a") == 0) {
			p->ok++;
			cJSON_Delete(out);
		}
	}
	return NULL;
}

START_TEST(client_threads)
{
	static struct reply	replies[16];
	struct srv		s;
	struct kube		*k;
	struct par		p[4];
	pthread_t		th[4];
	int			i;

	for (i = 0; i < 16; i++) {
		replies[i].code = 200;
		replies[i].body = "{\"metadata\":{\"name\":\"a\"}}";
	}
	srv_start(&s, replies, 16);
	k = client_for(&s, NULL, NULL);
	for (i = 0; i < 4; i++) {
		p[i].k = k;
		p[i].ok = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, par_main, &p[i]),
		    0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(p[i].ok, 4);
	}
	kube_free(k);
	srv_stop(&s);
	ck_assert_uint_eq(s.nseen, 16);
	srv_free(&s);
}
END_TEST

/*
 * TLS against the API double, when python3-kubernetes is there.
 */

static pid_t	 double_pid;
static char	*double_dir;

/* Starts the double; false (test skipped) when it cannot run here. */
static bool
double_start(void)
{
	char	*ready, *script;
	int	 i;

	if (system("/usr/bin/python3 -c 'import kubernetes.client' "
	    ">/dev/null 2>&1") != 0 || system("command -v openssl "
	    ">/dev/null 2>&1") != 0)
		return false;
	script = xstrdup(TEST_DATA_DIR "/../kube/kube_double.py");
	if (access(script, R_OK) != 0) {
		free(script);
		return false;
	}
	double_dir = temp_dir();
	if ((double_pid = fork()) == 0) {
		char	*log = xasprintf("%s/double.log", double_dir);

		/* Gone with the test process, even when an assertion fails. */
		(void)prctl(PR_SET_PDEATHSIG, SIGTERM);

		if (freopen(log, "w", stderr) == NULL ||
		    freopen("/dev/null", "w", stdout) == NULL)
			_exit(1);
		execl("/usr/bin/python3", "python3", script, "--dir",
		    double_dir, "--no-setuid", (char *)NULL);
		_exit(127);
	}
	free(script);
	ck_assert_int_gt(double_pid, 0);
	ready = xasprintf("%s/ready", double_dir);
	for (i = 0; i < 300 && access(ready, R_OK) != 0; i++)
		usleep(100 * 1000);
	ck_assert_msg(access(ready, R_OK) == 0, "the double did not start");
	free(ready);
	return true;
}

static void
double_stop(void)
{
	int	st;

	kill(double_pid, SIGTERM);
	waitpid(double_pid, &st, 0);
	rm_rf(double_dir);
	free(double_dir);
}

/* Creates, gets, lists and deletes a namespace through kubeconfig. */
static void
double_round_trip(const char *kubeconfig, const char *name)
{
	struct kube_config	*c;
	struct kube		*k;
	cJSON			*ns, *out;
	char			*path = xasprintf("%s/%s", double_dir,
	    kubeconfig), *body;
	bool			 adopted;

	ck_assert_msg(kube_config_load(&c, path, NULL) == 0, "%s", err_msg());
	ck_assert_ptr_nonnull(c->ca_data);
	ck_assert_int_eq(kube_new(&k, c, NULL), 0);
	body = xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
	    "\"metadata\":{\"name\":\"%s\",\"labels\":{\"%s\":\"ferry\"}}}",
	    name, KUBE_LABEL_MANAGED_BY);
	ns = cJSON_Parse(body);
	ck_assert_msg(kube_create(&out, &adopted, k, ns) == 0, "%s",
	    err_msg());
	ck_assert(!adopted);
	ck_assert_str_eq(jstr(out, "metadata.name"), name);
	cJSON_Delete(out);
	ck_assert_int_eq(kube_create(NULL, &adopted, k, ns), 0);
	ck_assert(adopted);
	ck_assert_int_eq(kube_get(&out, k, KUBE_NAMESPACE, NULL, name), 0);
	cJSON_Delete(out);
	ck_assert_int_eq(kube_list(&out, k, KUBE_NAMESPACE, NULL,
	    KUBE_LABEL_MANAGED_BY "=ferry"), 0);
	ck_assert_int_ge(cJSON_GetArraySize(jget(out, "items")), 1);
	cJSON_Delete(out);
	ck_assert_int_eq(kube_delete(k, KUBE_NAMESPACE, NULL, name,
	    KUBE_PROPAGATE_BACKGROUND, -1), 0);
	kube_free(k);
	cJSON_Delete(ns);
	free(body);
	free(path);
}

START_TEST(double_tls)
{
	struct kube_config	*c;
	struct kube		*k;
	cJSON			*out;
	char			*path;

	if (!double_start())
		return;
	double_round_trip("kubeconfig", "ferry-tls-token-1");
	double_round_trip("kubeconfig-cert", "ferry-tls-cert-2");

	/* Without the CA, verification fails: no answer, no retry loop. */
	path = xasprintf("%s/kubeconfig", double_dir);
	ck_assert_int_eq(kube_config_load(&c, path, NULL), 0);
	free(c->ca_data);
	c->ca_data = NULL;
	c->ca_file = xstrdup("/nonexistent/ca.pem");
	ck_assert_int_eq(kube_new(&k, c, NULL), 0);
	ck_assert_int_eq(kube_get(&out, k, KUBE_NAMESPACE, NULL, "default"),
	    ERR_UPSTREAM);
	kube_free(k);

	/* A wrong token is refused. */
	ck_assert_int_eq(kube_config_load(&c, path, NULL), 0);
	free_secret(c->token);
	c->token = xstrdup("wrong");
	ck_assert_int_eq(kube_new(&k, c, NULL), 0);
	ck_assert_int_eq(kube_get(&out, k, KUBE_NAMESPACE, NULL, "default"),
	    ERR_AUTH);
	kube_free(k);
	free(path);
	double_stop();
}
END_TEST

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
teardown(void)
{
	curl_global_cleanup();
}

Suite *
test_suite(void)
{
	Suite	*s = suite_create("kube");
	TCase	*tc;

#define ADD(name, fn) do {						\
	tc = tcase_create(name);					\
	tcase_add_checked_fixture(tc, setup, teardown);			\
	tcase_add_test(tc, fn);						\
	suite_add_tcase(s, tc);						\
} while (0)
	ADD("kubeconfig_token", kubeconfig_token);
	ADD("kubeconfig_token_file", kubeconfig_token_file);
	ADD("kubeconfig_cert_files", kubeconfig_cert_files);
	ADD("kubeconfig_inline_data", kubeconfig_inline_data);
	ADD("kubeconfig_contexts", kubeconfig_contexts);
	ADD("kubeconfig_insecure_json", kubeconfig_insecure_json);
	ADD("kubeconfig_errors", kubeconfig_errors);
	ADD("kubeconfig_exec_refused", kubeconfig_exec_refused);
	ADD("incluster_config", incluster_config);
	ADD("namespace_names", namespace_names);
	ADD("manifest_namespace", manifest_namespace);
	ADD("manifest_quota_limits", manifest_quota_limits);
	ADD("manifest_netpols", manifest_netpols);
	ADD("manifest_accounts_secrets", manifest_accounts_secrets);
	ADD("manifest_job", manifest_job);
	ADD("manifests_whole_run", manifests_whole_run);
	ADD("yaml_format", yaml_format);
	ADD("status_parse", status_parse);
	ADD("watch_parse", watch_parse);
	ADD("paths", paths);
	ADD("retry_policy", retry_policy);
	ADD("client_create_and_adopt", client_create_and_adopt);
	ADD("client_errors", client_errors);
	ADD("client_retries", client_retries);
	ADD("client_no_answer", client_no_answer);
	ADD("client_list_patch_delete", client_list_patch_delete);
	ADD("client_watch", client_watch);
	ADD("client_logs", client_logs);
	ADD("client_token_file_rotation", client_token_file_rotation);
	ADD("client_threads", client_threads);
	ADD("double_tls", double_tls);
	/* The double makes its certificates first: seconds on a busy CI. */
	tcase_set_timeout(tc, 60);
#undef ADD
	return s;
}
