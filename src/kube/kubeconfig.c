/*
 * kubeconfig.c - where the API server is and how to prove who we are:
 * a kubeconfig file (read with libyaml's document loader, so anchors and
 * JSON work too) or the in-cluster service account.
 *
 * DESIGN: only what ferry can honour is accepted. Exec plugins, auth
 * providers, basic auth and proxies are refused with a message that says
 * so instead of being ignored, since a silently unauthenticated client
 * would fail later with a confusing 401. When a user has both token and
 * tokenFile, the file wins and is re-read when it changes (client-go does
 * the same); the inline token is kept as the fallback.
 */
#define LOG_MODULE "kube"
#include "kube.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "config.h"
#include "kube_int.h"
#include "log.h"
#include "util.h"

#define KUBECONFIG_MAX		(4 * 1024 * 1024)
#define INCLUSTER_DIR		"/var/run/secrets/kubernetes.io/serviceaccount"

void
kube_config_free(struct kube_config *c)
{
	if (c == NULL)
		return;
	free(c->server);
	free(c->context);
	free(c->namespace);
	free(c->ca_file);
	free(c->ca_data);
	free(c->cert_file);
	free(c->cert_data);
	free(c->key_file);
	if (c->key_data != NULL) {
		wipe(c->key_data, c->key_len);
		free(c->key_data);
	}
	free_secret(c->token);
	free(c->token_file);
	free(c->tls_server_name);
	free(c);
}

/* Decodes standard base64, skipping whitespace; out is NUL-terminated. */
int
kube_b64_decode(char **out, size_t *len_out, const char *s)
{
	static const char	 alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char		*o;
	const char		*p;
	uint32_t		 acc = 0;
	size_t			 n = 0, bits = 0, pad = 0;

	o = xmalloc(strlen(s) / 4 * 3 + 4);
	for (p = s; *p != '\0'; p++) {
		const char	*at;

		if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
			continue;
		if (*p == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (at = strchr(alpha, *p)) == NULL)
			goto bad;
		acc = (acc << 6) | (uint32_t)(at - alpha);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	o[n] = '\0';
	*out = (char *)o;
	*len_out = n;
	return 0;
bad:
	wipe(o, n);
	free(o);
	return err_set(ERR_INVALID, "invalid base64");
}

/* libyaml document helpers. */

static yaml_node_t *
map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t	*pr;

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pr = map->data.mapping.pairs.start;
	    pr < map->data.mapping.pairs.top; pr++) {
		yaml_node_t	*k = yaml_document_get_node(doc, pr->key);

		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(doc, pr->value);
	}
	return NULL;
}

/* The scalar's text, or NULL for a missing node, null or empty value. */
static const char *
scalar(yaml_node_t *n)
{
	const char	*s;

	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return NULL;
	s = (const char *)n->data.scalar.value;
	if (*s == '\0' || (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (strcmp(s, "null") == 0 || strcmp(s, "~") == 0)))
		return NULL;
	return s;
}

/* The entry of a named list (clusters, users, contexts) called name. */
static yaml_node_t *
named_entry(yaml_document_t *doc, yaml_node_t *root, const char *list,
    const char *field, const char *name)
{
	yaml_node_t		*seq = map_get(doc, root, list);
	yaml_node_item_t	*it;

	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	for (it = seq->data.sequence.items.start;
	    it < seq->data.sequence.items.top; it++) {
		yaml_node_t	*e = yaml_document_get_node(doc, *it);
		const char	*n = scalar(map_get(doc, e, "name"));

		if (n != NULL && strcmp(n, name) == 0)
			return map_get(doc, e, field);
	}
	return NULL;
}

/* A path as written, made absolute against dir when relative. */
static char *
resolve(const char *dir, const char *p)
{
	if (p[0] == '/' || dir == NULL)
		return xstrdup(p);
	return xasprintf("%s/%s", dir, p);
}

static bool
truthy(const char *s)
{
	return s != NULL && (strcmp(s, "true") == 0 ||
	    strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0 ||
	    strcmp(s, "yes") == 0);
}

/* Decodes a user's -data field into *out; ERR_INVALID naming it. */
static int
data_field(char **out, size_t *len_out, const char *path, const char *name,
    const char *field, const char *value)
{
	if (kube_b64_decode(out, len_out, value) != 0)
		return err_set(ERR_INVALID, "%s: user \"%s\": %s is not valid "
		    "base64", path, name, field);
	return 0;
}

static int
read_cluster(struct kube_config *c, yaml_document_t *doc, yaml_node_t *cl,
    const char *path, const char *dir, const char *name)
{
	const char	*s;
	char		*tmp;
	size_t		 tlen;

	if (cl == NULL || cl->type != YAML_MAPPING_NODE)
		return err_set(ERR_INVALID, "%s: cluster \"%s\" not found",
		    path, name);
	if ((s = scalar(map_get(doc, cl, "server"))) == NULL)
		return err_set(ERR_INVALID, "%s: cluster \"%s\" has no server",
		    path, name);
	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return err_set(ERR_INVALID, "%s: cluster \"%s\": server must "
		    "be an https:// URL", path, name);
	c->server = xstrdup(s);
	tlen = strlen(c->server);
	while (tlen > 0 && c->server[tlen - 1] == '/')
		c->server[--tlen] = '\0';
	if (scalar(map_get(doc, cl, "proxy-url")) != NULL)
		return err_set(ERR_INVALID, "%s: cluster \"%s\": proxy-url is "
		    "not supported", path, name);
	if ((s = scalar(map_get(doc, cl, "certificate-authority-data")))
	    != NULL) {
		if (kube_b64_decode(&tmp, &tlen, s) != 0)
			return err_set(ERR_INVALID, "%s: cluster \"%s\": "
			    "certificate-authority-data is not valid base64",
			    path, name);
		c->ca_data = tmp;
		c->ca_len = tlen;
	} else if ((s = scalar(map_get(doc, cl, "certificate-authority")))
	    != NULL)
		c->ca_file = resolve(dir, s);
	c->insecure = truthy(scalar(map_get(doc, cl,
	    "insecure-skip-tls-verify")));
	if ((s = scalar(map_get(doc, cl, "tls-server-name"))) != NULL)
		c->tls_server_name = xstrdup(s);
	return 0;
}

static int
read_user(struct kube_config *c, yaml_document_t *doc, yaml_node_t *u,
    const char *path, const char *dir, const char *name)
{
	static const char *const unsupported[] = { "exec", "auth-provider",
	    "username", "password", "as", "impersonate" };
	const char	*s, *cd, *kd, *cf, *kf;
	size_t		 i;
	int		 rc;

	if (u == NULL || u->type != YAML_MAPPING_NODE)
		return err_set(ERR_INVALID, "%s: user \"%s\" not found", path,
		    name);
	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (map_get(doc, u, unsupported[i]) != NULL)
			return err_set(ERR_INVALID, "%s: user \"%s\": %s is "
			    "not supported; use a token, tokenFile or a "
			    "client certificate", path, name, unsupported[i]);
	if ((s = scalar(map_get(doc, u, "token"))) != NULL)
		c->token = xstrdup(s);
	if ((s = scalar(map_get(doc, u, "tokenFile"))) != NULL)
		c->token_file = resolve(dir, s);
	cd = scalar(map_get(doc, u, "client-certificate-data"));
	kd = scalar(map_get(doc, u, "client-key-data"));
	cf = scalar(map_get(doc, u, "client-certificate"));
	kf = scalar(map_get(doc, u, "client-key"));
	if ((cd != NULL || cf != NULL) != (kd != NULL || kf != NULL))
		return err_set(ERR_INVALID, "%s: user \"%s\": a client "
		    "certificate needs its key and a key its certificate",
		    path, name);
	if (cd != NULL) {
		if ((rc = data_field(&c->cert_data, &c->cert_len, path, name,
		    "client-certificate-data", cd)) != 0)
			return rc;
	} else if (cf != NULL)
		c->cert_file = resolve(dir, cf);
	if (kd != NULL) {
		if ((rc = data_field(&c->key_data, &c->key_len, path, name,
		    "client-key-data", kd)) != 0)
			return rc;
	} else if (kf != NULL)
		c->key_file = resolve(dir, kf);
	return 0;
}

int
kube_config_parse(struct kube_config **out, const char *path,
    const char *text, size_t len, const char *context)
{
	yaml_parser_t		 parser;
	yaml_document_t		 doc;
	yaml_node_t		*root, *ctx;
	struct kube_config	*c;
	const char		*cur, *cl, *us, *ns;
	char			*dir = NULL, *slash;
	int			 rc;

	*out = NULL;
	if (!yaml_parser_initialize(&parser))
		return err_set(ERR_FAIL, "cannot initialise libyaml");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = err_set(ERR_INVALID, "%s:%zu: %s", path,
		    parser.problem_mark.line + 1, parser.problem != NULL ?
		    parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return rc;
	}
	yaml_parser_delete(&parser);
	c = xcalloc(1, sizeof(*c));
	root = yaml_document_get_root_node(&doc);
	if (root == NULL || root->type != YAML_MAPPING_NODE) {
		rc = err_set(ERR_INVALID, "%s: not a kubeconfig (no mapping)",
		    path);
		goto out;
	}
	cur = context != NULL ? context :
	    scalar(map_get(&doc, root, "current-context"));
	if (cur == NULL) {
		rc = err_set(ERR_INVALID, "%s: no current-context; name one "
		    "with kubernetes.context", path);
		goto out;
	}
	if ((ctx = named_entry(&doc, root, "contexts", "context", cur))
	    == NULL || ctx->type != YAML_MAPPING_NODE) {
		rc = err_set(ERR_INVALID, "%s: context \"%s\" not found", path,
		    cur);
		goto out;
	}
	c->context = xstrdup(cur);
	if ((cl = scalar(map_get(&doc, ctx, "cluster"))) == NULL) {
		rc = err_set(ERR_INVALID, "%s: context \"%s\" names no cluster",
		    path, cur);
		goto out;
	}
	if ((ns = scalar(map_get(&doc, ctx, "namespace"))) != NULL)
		c->namespace = xstrdup(ns);
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) == NULL) {
		free(dir);
		dir = xstrdup(".");
	} else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((rc = read_cluster(c, &doc, named_entry(&doc, root, "clusters",
	    "cluster", cl), path, dir, cl)) != 0)
		goto out;
	us = scalar(map_get(&doc, ctx, "user"));
	if (us != NULL && (rc = read_user(c, &doc, named_entry(&doc, root,
	    "users", "user", us), path, dir, us)) != 0)
		goto out;
	*out = c;
	c = NULL;
	rc = 0;
out:
	free(dir);
	kube_config_free(c);
	yaml_document_delete(&doc);
	return rc;
}

int
kube_config_load(struct kube_config **out, const char *path,
    const char *context)
{
	char	*text;
	size_t	 len;
	int	 rc;

	*out = NULL;
	if ((rc = file_read(&text, &len, path, KUBECONFIG_MAX)) != 0) {
		if (rc == ERR_NOTFOUND)
			return err_set(ERR_NOTFOUND, "kubeconfig %s: no such "
			    "file", path);
		return rc;
	}
	rc = kube_config_parse(out, path, text, len, context);
	wipe(text, len);
	free(text);
	return rc;
}

int
kube_config_incluster(struct kube_config **out, const char *dir)
{
	struct kube_config	*c;
	const char		*host = getenv("KUBERNETES_SERVICE_HOST");
	const char		*port = getenv("KUBERNETES_SERVICE_PORT");
	char			*ns = NULL, *p;
	size_t			 len;
	int64_t			 pn;

	*out = NULL;
	if (dir == NULL)
		dir = INCLUSTER_DIR;
	if (host == NULL || *host == '\0')
		return err_set(ERR_NOTFOUND, "not in a cluster: "
		    "KUBERNETES_SERVICE_HOST is not set; set "
		    "kubernetes.kubeconfig");
	if (port == NULL || *port == '\0')
		port = "443";
	if (parse_int64(&pn, port, 1, 65535) != 0)
		return err_set(ERR_INVALID, "KUBERNETES_SERVICE_PORT %s is "
		    "not a port", port);
	c = xcalloc(1, sizeof(*c));
	c->server = xasprintf(strchr(host, ':') != NULL ? "https://[%s]:%s" :
	    "https://%s:%s", host, port);
	c->token_file = xasprintf("%s/token", dir);
	c->ca_file = xasprintf("%s/ca.crt", dir);
	if (access(c->token_file, R_OK) != 0) {
		kube_config_free(c);
		return err_set(ERR_NOTFOUND, "not in a cluster: no service "
		    "account token in %s", dir);
	}
	if (access(c->ca_file, R_OK) != 0) {
		kube_config_free(c);
		return err_set(ERR_NOTFOUND, "no service account CA "
		    "certificate in %s", dir);
	}
	p = xasprintf("%s/namespace", dir);
	if (file_read(&ns, &len, p, 256) == 0) {
		while (len > 0 && (ns[len - 1] == '\n' || ns[len - 1] == ' '))
			ns[--len] = '\0';
		if (len > 0) {
			c->namespace = ns;
			ns = NULL;
		}
	}
	free(ns);
	free(p);
	*out = c;
	return 0;
}

int
kube_config_from(struct kube_config **out, const struct config_kube *kc)
{
	if (kc->kubeconfig != NULL)
		return kube_config_load(out, kc->kubeconfig, kc->context);
	return kube_config_incluster(out, NULL);
}
