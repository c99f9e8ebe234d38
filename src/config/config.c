/*
 * config.c - the server's YAML configuration (SPEC.md "Server
 * configuration") parsed with libyaml's document API into struct config.
 *
 * DESIGN
 *
 * The whole file is loaded as one libyaml document, so every node keeps
 * its start mark; errors read "FILE:LINE: KEY: what is wrong" where KEY
 * is the path of the offending key ("repos[0].provider",
 * "kubernetes.quota.cpu"). Each mapping is described by a table of
 * fields (name, type, offset in the record, bounds, validator); one
 * walker checks node types, refuses unknown and duplicate keys, treats
 * a null value ("context: null", "context:") as unset and reports
 * missing required keys at the line of their mapping. Defaults are set
 * before a mapping is walked (numbers) or after it (strings).
 *
 * Secret keys (repos[].secret, repos[].status_token, api_tokens[],
 * values of repos[].secrets) only accept env:NAME or file:PATH and are
 * resolved while parsing; their values never reach an error message.
 * file: paths are relative to the config file's directory, may start
 * with "~/" (HOME), are at most 64 KiB and lose one trailing newline.
 *
 * Extensions beyond SPEC.md, all optional:
 *   request_timeout: 30s      a whole HTTP request, duration
 *   max_connections: 1024     concurrent HTTP connections, 1..100000
 *   log_max: 16MiB            ceiling of one step's log, 1KiB..1GiB
 *   log_level: info           debug | info | warn | error
 *
 * Other decisions where SPEC.md is silent:
 *   - listen defaults to 127.0.0.1:8080; "[::1]:8080" stores listen_host
 *     "::1" (no brackets); ":8080" stores listen_host NULL.
 *   - public_url defaults to "http://<listen>", with "localhost" for an
 *     empty host; trailing slashes of public_url and api_url are removed.
 *   - an empty document is a valid config with zero repos.
 *   - kubernetes.defaults may not exceed kubernetes.quota (such steps
 *     could never be admitted into the run namespace).
 *   - repos[].secrets names are [A-Za-z_][A-Za-z0-9_]*, at most 256.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "err.h"
#include "util.h"

#define LOG_MODULE	"config"
#include "log.h"

#define CONFIG_FILE_MAX		(1024 * 1024)
#define SECRET_FILE_MAX		(64 * 1024)
#define SECRETS_MAX		256
#define PATH_DISPLAY_MAX	200
#define KEY_DISPLAY_MAX		64

#define KiB	(1LL << 10)
#define MiB	(1LL << 20)
#define GiB	(1LL << 30)

#define CPU_MILLI_MAX	1000000000LL	/* a million cores */
#define MEMORY_MAX	(1LL << 50)	/* 1 PiB */

/* State of one parse: where we are, for messages. */
struct pctx {
	const char	*file;		/* as given, for messages */
	char		*dir;		/* file's directory, for file: */
	yaml_document_t	*doc;
	char		 path[PATH_DISPLAY_MAX + KEY_DISPLAY_MAX + 32];
	size_t		 plen;
	size_t		 name_line;	/* line of the last repos[].name */
	size_t		 defaults_line;	/* kubernetes.defaults, 0: absent */
	size_t		 quota_line;	/* kubernetes.quota, 0: absent */
};

enum ftype {
	FT_STR,		/* char *, non-empty, optional check() */
	FT_INT,		/* int in [min, max] */
	FT_I64,		/* int64_t in [min, max] */
	FT_BYTES,	/* int64_t bytes in [min, max] */
	FT_DURATION,	/* int64_t milliseconds */
	FT_BOOL,	/* bool */
	FT_CPU,		/* int64_t millicores */
	FT_MEMORY,	/* int64_t bytes */
	FT_SECRET,	/* char *, resolved env:/file: */
	FT_STRLIST,	/* char ** at off, size_t count at noff */
	FT_SECRETLIST,	/* the same, each resolved */
	FT_FN,		/* fn() does it all */
};

#define F_REQUIRED	0x1

typedef int check_fn(struct pctx *, yaml_node_t *, const char *);
typedef int field_fn(struct pctx *, yaml_node_t *, void *);

struct field {
	const char	*name;
	enum ftype	 type;
	size_t		 off;		/* offset of the value in the record */
	size_t		 noff;		/* lists: offset of the count */
	int64_t		 min, max;	/* numbers */
	check_fn	*check;		/* FT_STR, FT_STRLIST: validator */
	field_fn	*fn;		/* FT_FN */
	int		 flags;
};

#define NFIELDS(t)	(sizeof(t) / sizeof((t)[0]))

static int	parse_kube(struct pctx *, yaml_node_t *, void *);
static int	parse_resources_defaults(struct pctx *, yaml_node_t *, void *);
static int	parse_resources_quota(struct pctx *, yaml_node_t *, void *);
static int	parse_repos(struct pctx *, yaml_node_t *, void *);
static int	parse_deploy(struct pctx *, yaml_node_t *, void *);
static int	parse_secrets(struct pctx *, yaml_node_t *, void *);
static int	parse_listen(struct pctx *, yaml_node_t *, void *);
static int	parse_executor(struct pctx *, yaml_node_t *, void *);
static int	parse_log_level(struct pctx *, yaml_node_t *, void *);
static int	parse_provider(struct pctx *, yaml_node_t *, void *);
static int	parse_kubeconfig(struct pctx *, yaml_node_t *, void *);
static int	check_url(struct pctx *, yaml_node_t *, const char *);
static int	check_word(struct pctx *, yaml_node_t *, const char *);
static int	check_repo_name(struct pctx *, yaml_node_t *, const char *);
static int	check_pipeline(struct pctx *, yaml_node_t *, const char *);
static int	check_prefix(struct pctx *, yaml_node_t *, const char *);
static int	check_dns_label(struct pctx *, yaml_node_t *, const char *);
static int	check_egress(struct pctx *, yaml_node_t *, const char *);

#define CFG(f)	offsetof(struct config, f)
static const struct field top_fields[] = {
	{ "listen", FT_FN, 0, 0, 0, 0, NULL, parse_listen, 0 },
	{ "data_dir", FT_STR, CFG(data_dir), 0, 0, 0, NULL, NULL, 0 },
	{ "workers", FT_INT, CFG(workers), 0, 1, 256, NULL, NULL, 0 },
	{ "public_url", FT_STR, CFG(public_url), 0, 0, 0, check_url, NULL,
	    0 },
	{ "max_body", FT_BYTES, CFG(max_body), 0, KiB, GiB, NULL, NULL, 0 },
	{ "api_tokens", FT_SECRETLIST, CFG(api_tokens), CFG(napi_tokens),
	    0, 0, NULL, NULL, 0 },
	{ "executor", FT_FN, 0, 0, 0, 0, NULL, parse_executor, 0 },
	{ "kubernetes", FT_FN, 0, 0, 0, 0, NULL, parse_kube, 0 },
	{ "repos", FT_FN, 0, 0, 0, 0, NULL, parse_repos, 0 },
	{ "request_timeout", FT_DURATION, CFG(request_timeout_ms), 0, 0, 0,
	    NULL, NULL, 0 },
	{ "max_connections", FT_INT, CFG(max_connections), 0, 1, 100000,
	    NULL, NULL, 0 },
	{ "log_max", FT_BYTES, CFG(log_max), 0, KiB, GiB, NULL, NULL, 0 },
	{ "log_level", FT_FN, 0, 0, 0, 0, NULL, parse_log_level, 0 },
};
#undef CFG

#define KUBE(f)	offsetof(struct config_kube, f)
static const struct field kube_fields[] = {
	{ "kubeconfig", FT_FN, 0, 0, 0, 0, NULL, parse_kubeconfig, 0 },
	{ "context", FT_STR, KUBE(context), 0, 0, 0, NULL, NULL, 0 },
	{ "namespace_prefix", FT_STR, KUBE(namespace_prefix), 0, 0, 0,
	    check_prefix, NULL, 0 },
	{ "source_image", FT_STR, KUBE(source_image), 0, 0, 0, check_word,
	    NULL, 0 },
	{ "defaults", FT_FN, 0, 0, 0, 0, NULL, parse_resources_defaults, 0 },
	{ "quota", FT_FN, 0, 0, 0, 0, NULL, parse_resources_quota, 0 },
	{ "egress", FT_STRLIST, KUBE(egress), KUBE(negress), 0, 0,
	    check_egress, NULL, 0 },
	{ "schedule_timeout", FT_DURATION, KUBE(schedule_timeout_ms), 0, 0, 0,
	    NULL, NULL, 0 },
	{ "image_pull_timeout", FT_DURATION, KUBE(image_pull_timeout_ms), 0,
	    0, 0, NULL, NULL, 0 },
};
#undef KUBE

#define RES(f)	offsetof(struct config_resources, f)
static const struct field defaults_fields[] = {
	{ "cpu", FT_CPU, RES(cpu_milli), 0, 0, 0, NULL, NULL, 0 },
	{ "memory", FT_MEMORY, RES(memory), 0, 0, 0, NULL, NULL, 0 },
};
static const struct field quota_fields[] = {
	{ "cpu", FT_CPU, RES(cpu_milli), 0, 0, 0, NULL, NULL, 0 },
	{ "memory", FT_MEMORY, RES(memory), 0, 0, 0, NULL, NULL, 0 },
	{ "pods", FT_I64, RES(pods), 0, 1, 10000, NULL, NULL, 0 },
};
#undef RES

#define REPO(f)	offsetof(struct config_repo, f)
static const struct field repo_fields[] = {
	{ "name", FT_STR, REPO(name), 0, 0, 0, check_repo_name, NULL,
	    F_REQUIRED },
	{ "provider", FT_FN, 0, 0, 0, 0, NULL, parse_provider, F_REQUIRED },
	{ "clone_url", FT_STR, REPO(clone_url), 0, 0, 0, NULL, NULL,
	    F_REQUIRED },
	{ "secret", FT_SECRET, REPO(secret), 0, 0, 0, NULL, NULL,
	    F_REQUIRED },
	{ "branch", FT_STR, REPO(branch), 0, 0, 0, check_word, NULL, 0 },
	{ "pipeline", FT_STR, REPO(pipeline), 0, 0, 0, check_pipeline, NULL,
	    0 },
	{ "status_token", FT_SECRET, REPO(status_token), 0, 0, 0, NULL, NULL,
	    0 },
	{ "api_url", FT_STR, REPO(api_url), 0, 0, 0, check_url, NULL, 0 },
	{ "notify", FT_STRLIST, REPO(notify), REPO(nnotify), 0, 0, check_url,
	    NULL, 0 },
	{ "deploy", FT_FN, 0, 0, 0, 0, NULL, parse_deploy, 0 },
	{ "secrets", FT_FN, 0, 0, 0, 0, NULL, parse_secrets, 0 },
	{ "concurrency", FT_INT, REPO(concurrency), 0, 1, 64, NULL, NULL, 0 },
	{ "cancel_superseded", FT_BOOL, REPO(cancel_superseded), 0, 0, 0,
	    NULL, NULL, 0 },
};
static const struct field deploy_fields[] = {
	{ "namespace", FT_STR, REPO(deploy_namespace), 0, 0, 0,
	    check_dns_label, NULL, F_REQUIRED },
	{ "role", FT_STR, REPO(deploy_role), 0, 0, 0, check_word, NULL,
	    F_REQUIRED },
};
#undef REPO

/* Messages. */

static size_t
node_line(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

static int
vperr(struct pctx *c, size_t line, const char *fmt, va_list ap)
{
	char	msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (c->plen == 0)
		return err_set(ERR_INVALID, "%s:%zu: %s", c->file, line, msg);
	return err_set(ERR_INVALID, "%s:%zu: %s: %s", c->file, line, c->path,
	    msg);
}

static int PRINTFLIKE(3, 4)
perr_line(struct pctx *c, size_t line, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = vperr(c, line, fmt, ap);
	va_end(ap);
	return rc;
}

static int PRINTFLIKE(3, 4)
perr(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = vperr(c, node_line(n), fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Appends ".key" (or "key" at the top) to the key path shown in
 * messages; control characters are shown as '?' and long keys are cut.
 * Returns the old length for path_pop().
 */
static size_t
path_push(struct pctx *c, const char *key)
{
	size_t	old = c->plen, i;

	if (c->plen >= PATH_DISPLAY_MAX)
		return old;
	if (c->plen > 0)
		c->path[c->plen++] = '.';
	for (i = 0; key[i] != '\0' && i < KEY_DISPLAY_MAX; i++) {
		unsigned char	ch = (unsigned char)key[i];

		c->path[c->plen++] = (ch < 0x20 || ch == 0x7f) ? '?' : ch;
	}
	c->path[c->plen] = '\0';
	return old;
}

static size_t
path_index(struct pctx *c, size_t i)
{
	size_t	old = c->plen;
	int	n;

	if (c->plen >= PATH_DISPLAY_MAX)
		return old;
	n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]",
	    i);
	if (n > 0 && (size_t)n < sizeof(c->path) - c->plen)
		c->plen += (size_t)n;
	c->path[c->plen] = '\0';
	return old;
}

static void
path_pop(struct pctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

/* Node types. */

static bool
node_is_null(const yaml_node_t *n)
{
	const char	*s;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = (const char *)n->data.scalar.value;
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static const char *
node_kind(const yaml_node_t *n)
{
	if (node_is_null(n))
		return "null";
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return "a string";
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_NO_NODE:
		break;
	}
	return "nothing";
}

/* *out borrows the scalar's text; what names the expected kind. */
static int
expect_scalar(const char **out, struct pctx *c, const yaml_node_t *n,
    const char *what)
{
	*out = NULL;
	if (n->type != YAML_SCALAR_NODE || node_is_null(n))
		return perr(c, n, "expected %s, not %s", what, node_kind(n));
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return perr(c, n, "contains a NUL character");
	*out = (const char *)n->data.scalar.value;
	return 0;
}

static int
expect_string(const char **out, struct pctx *c, const yaml_node_t *n)
{
	int	rc;

	if ((rc = expect_scalar(out, c, n, "a string")) != 0)
		return rc;
	if (**out == '\0')
		return perr(c, n, "must not be empty");
	return 0;
}

static int
expect_kind(struct pctx *c, const yaml_node_t *n, yaml_node_type_t type)
{
	if (n->type == type && !node_is_null(n))
		return 0;
	return perr(c, n, "expected %s, not %s",
	    type == YAML_MAPPING_NODE ? "a mapping" : "a list", node_kind(n));
}

/* Values. */

/* "1GiB", "64KiB", or plain bytes, for range messages. */
static void
format_size(char *out, size_t outsz, int64_t v)
{
	if (v >= GiB && v % GiB == 0)
		snprintf(out, outsz, "%lldGiB", (long long)(v / GiB));
	else if (v >= MiB && v % MiB == 0)
		snprintf(out, outsz, "%lldMiB", (long long)(v / MiB));
	else if (v >= KiB && v % KiB == 0)
		snprintf(out, outsz, "%lldKiB", (long long)(v / KiB));
	else
		snprintf(out, outsz, "%lld", (long long)v);
}

static int
value_int(int64_t *out, struct pctx *c, const yaml_node_t *n, int64_t min,
    int64_t max)
{
	const char	*s;
	int		 rc;

	if ((rc = expect_scalar(&s, c, n, "a number")) != 0)
		return rc;
	if (parse_int64(out, s, INT64_MIN, INT64_MAX) != 0)
		return perr(c, n, "not a number");
	if (*out < min || *out > max)
		return perr(c, n, "must be between %lld and %lld",
		    (long long)min, (long long)max);
	return 0;
}

static int
value_bytes(int64_t *out, struct pctx *c, const yaml_node_t *n,
    int64_t min, int64_t max)
{
	const char	*s;
	char		 lo[32], hi[32];
	int		 rc;

	if ((rc = expect_scalar(&s, c, n, "a size")) != 0)
		return rc;
	if (parse_bytes(out, s) != 0)
		return perr(c, n, "%s", err_msg());
	if (*out < min || *out > max) {
		format_size(lo, sizeof(lo), min);
		format_size(hi, sizeof(hi), max);
		return perr(c, n, "must be between %s and %s", lo, hi);
	}
	return 0;
}

static int
value_duration(int64_t *out, struct pctx *c, const yaml_node_t *n)
{
	const char	*s;
	int		 rc;

	if ((rc = expect_scalar(&s, c, n, "a duration")) != 0)
		return rc;
	if (parse_duration_ms(out, s) != 0)
		return perr(c, n, "%s", err_msg());
	return 0;
}

static int
value_bool(bool *out, struct pctx *c, const yaml_node_t *n)
{
	const char	*s;
	int		 rc;

	if ((rc = expect_scalar(&s, c, n, "true or false")) != 0)
		return rc;
	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0)
		*out = true;
	else if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0)
		*out = false;
	else
		return perr(c, n, "must be true or false");
	return 0;
}

/*
 * Digits with an optional fraction of at most 3 digits, as thousandths:
 * "2" -> 2000, "0.5" -> 500. *end points past what was read. -1 if
 * malformed or too large.
 */
static int
parse_milli(int64_t *out, const char **end, const char *s)
{
	int64_t	v = 0;
	int	digits;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		if (v > (INT64_MAX / 1000 - 9) / 10)
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	v *= 1000;
	if (*s == '.') {
		s++;
		if (!isdigit((unsigned char)*s))
			return -1;
		for (digits = 0; isdigit((unsigned char)*s); digits++, s++) {
			if (digits >= 3)
				return -1;
			v += (*s - '0') * (digits == 0 ? 100 : digits == 1 ?
			    10 : 1);
		}
	}
	*out = v;
	*end = s;
	return 0;
}

/* Kubernetes CPU: "500m", "2", "0.5" -> millicores. */
static int
value_cpu(int64_t *out, struct pctx *c, const yaml_node_t *n)
{
	const char	*s, *p;
	int64_t		 v;
	size_t		 len;
	int		 rc;

	*out = 0;
	if ((rc = expect_scalar(&s, c, n, "a cpu quantity")) != 0)
		return rc;
	len = strlen(s);
	if (len > 1 && s[len - 1] == 'm') {
		/* Millicores are whole: "500m", not "0.5m". */
		for (p = s, v = 0; isdigit((unsigned char)*p); p++)
			if ((v = v * 10 + (*p - '0')) > CPU_MILLI_MAX)
				v = CPU_MILLI_MAX + 1;
		if (p != s + len - 1)
			goto bad;
	} else if (parse_milli(&v, &p, s) != 0 || *p != '\0')
		goto bad;
	if (v <= 0)
		return perr(c, n, "must be greater than zero");
	if (v > CPU_MILLI_MAX)
		return perr(c, n, "must be at most 1000000");
	*out = v;
	return 0;
bad:
	return perr(c, n, "invalid cpu quantity \"%.32s\" "
	    "(use e.g. 500m, 2, 0.5)", s);
}

/* Kubernetes memory: "512Mi", "8Gi", "1G", "1.5Gi", "1048576" -> bytes. */
static int
value_memory(int64_t *out, struct pctx *c, const yaml_node_t *n)
{
	static const struct {
		const char	*suffix;
		int64_t		 mult;
	} units[] = {
		{ "", 1 },
		{ "k", 1000LL }, { "M", 1000000LL }, { "G", 1000000000LL },
		{ "T", 1000000000000LL }, { "P", 1000000000000000LL },
		{ "E", 1000000000000000000LL },
		{ "Ki", 1LL << 10 }, { "Mi", 1LL << 20 }, { "Gi", 1LL << 30 },
		{ "Ti", 1LL << 40 }, { "Pi", 1LL << 50 }, { "Ei", 1LL << 60 },
	};
	const char	*s, *p;
	int64_t		 v;
	size_t		 i;
	int		 rc;

	*out = 0;
	if ((rc = expect_scalar(&s, c, n, "a memory quantity")) != 0)
		return rc;
	if (parse_milli(&v, &p, s) != 0)
		goto bad;
	for (i = 0; i < NFIELDS(units); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (v > (INT64_MAX - 999) / units[i].mult)
			goto big;
		v = (v * units[i].mult + 999) / 1000;	/* round up */
		if (v <= 0)
			return perr(c, n, "must be greater than zero");
		if (v > MEMORY_MAX)
			goto big;
		*out = v;
		return 0;
	}
bad:
	return perr(c, n, "invalid memory quantity \"%.32s\" "
	    "(use e.g. 512Mi, 8Gi)", s);
big:
	return perr(c, n, "must be at most 1Pi");
}

/* Secrets. */

/* Reads a secret file, wiping every intermediate copy. */
static int
secret_file_read(char **out, struct pctx *c, const yaml_node_t *n,
    const char *path)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 r;
	int	 fd, rc = 0;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return perr(c, n, "cannot open secret file %s: %s", path,
		    strerror(errno));
	buf = xmalloc(SECRET_FILE_MAX + 1);
	for (;;) {
		r = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = perr(c, n, "cannot read secret file %s: %s",
			    path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > SECRET_FILE_MAX) {
			rc = perr(c, n, "secret file %s is larger than "
			    "64 KiB", path);
			goto out;
		}
	}
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	if (len == 0) {
		rc = perr(c, n, "secret file %s is empty", path);
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		rc = perr(c, n, "secret file %s contains a NUL byte", path);
		goto out;
	}
	*out = xstrndup(buf, len);
out:
	wipe(buf, SECRET_FILE_MAX + 1);
	free(buf);
	close(fd);
	return rc;
}

/*
 * A file path from the config: "~/x" is under HOME, a relative path is
 * relative to the config file's directory when relative_to_dir.
 */
static int
expand_path(char **out, struct pctx *c, const yaml_node_t *n, const char *p,
    bool relative_to_dir)
{
	const char	*home;

	*out = NULL;
	if (strncmp(p, "~/", 2) == 0) {
		if ((home = getenv("HOME")) == NULL || *home == '\0')
			return perr(c, n, "cannot expand ~: HOME is not set");
		*out = xasprintf("%s/%s", home, p + 2);
	} else if (p[0] != '/' && relative_to_dir && strcmp(c->dir, ".") != 0)
		*out = xasprintf("%s/%s", c->dir, p);
	else
		*out = xstrdup(p);
	return 0;
}

static bool
env_name_valid(const char *s)
{
	if (!isalpha((unsigned char)*s) && *s != '_')
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

/* env:NAME or file:PATH -> the value; never show the value. */
static int
value_secret(char **out, struct pctx *c, const yaml_node_t *n)
{
	const char	*s, *v;
	char		*path;
	int		 rc;

	*out = NULL;
	if ((rc = expect_scalar(&s, c, n, "env:NAME or file:PATH")) != 0)
		return rc;
	if (strncmp(s, "env:", 4) == 0) {
		if (!env_name_valid(s + 4))
			return perr(c, n, "env: needs a variable name of "
			    "letters, digits and _");
		if ((v = getenv(s + 4)) == NULL)
			return perr(c, n, "environment variable %.64s is not "
			    "set", s + 4);
		if (*v == '\0')
			return perr(c, n, "environment variable %.64s is "
			    "empty", s + 4);
		*out = xstrdup(v);
		return 0;
	}
	if (strncmp(s, "file:", 5) == 0) {
		if (s[5] == '\0')
			return perr(c, n, "file: needs a path");
		if ((rc = expand_path(&path, c, n, s + 5, true)) != 0)
			return rc;
		rc = secret_file_read(out, c, n, path);
		free(path);
		return rc;
	}
	return perr(c, n, "secrets must be env:NAME or file:PATH, not written "
	    "in the file");
}

/* Lists. */

static int
value_list(char ***list_out, size_t *n_out, struct pctx *c,
    const yaml_node_t *n, bool secret, check_fn *check)
{
	yaml_node_item_t	*it;
	yaml_node_t		*item;
	const char		*s;
	size_t			 count, i = 0, old;
	int			 rc = 0;

	if ((rc = expect_kind(c, n, YAML_SEQUENCE_NODE)) != 0)
		return rc;
	count = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	*list_out = xcalloc(count + 1, sizeof(char *));
	*n_out = 0;
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++, i++) {
		item = yaml_document_get_node(c->doc, *it);
		old = path_index(c, i);
		if (secret)
			rc = value_secret(&(*list_out)[i], c, item);
		else if ((rc = expect_string(&s, c, item)) == 0 &&
		    (check == NULL || (rc = check(c, item, s)) == 0))
			(*list_out)[i] = xstrdup(s);
		path_pop(c, old);
		if (rc != 0)
			return rc;
		(*n_out)++;
	}
	return 0;
}

/* Mappings. */

static int
field_set(struct pctx *c, const struct field *f, yaml_node_t *n, void *obj)
{
	char	*base = obj;
	char	**sp = (char **)(base + f->off);
	int64_t	 v;
	const char *s;
	int	 rc;

	switch (f->type) {
	case FT_STR:
		if ((rc = expect_string(&s, c, n)) != 0)
			return rc;
		if (f->check != NULL && (rc = f->check(c, n, s)) != 0)
			return rc;
		*sp = xstrdup(s);
		return 0;
	case FT_INT:
		if ((rc = value_int(&v, c, n, f->min, f->max)) != 0)
			return rc;
		*(int *)(base + f->off) = (int)v;
		return 0;
	case FT_I64:
		return value_int((int64_t *)(base + f->off), c, n, f->min,
		    f->max);
	case FT_BYTES:
		return value_bytes((int64_t *)(base + f->off), c, n, f->min,
		    f->max);
	case FT_DURATION:
		return value_duration((int64_t *)(base + f->off), c, n);
	case FT_BOOL:
		return value_bool((bool *)(base + f->off), c, n);
	case FT_CPU:
		return value_cpu((int64_t *)(base + f->off), c, n);
	case FT_MEMORY:
		return value_memory((int64_t *)(base + f->off), c, n);
	case FT_SECRET:
		return value_secret(sp, c, n);
	case FT_STRLIST:
	case FT_SECRETLIST:
		return value_list((char ***)(base + f->off),
		    (size_t *)(base + f->noff), c, n,
		    f->type == FT_SECRETLIST, f->check);
	case FT_FN:
		return f->fn(c, n, obj);
	}
	ASSERT(!"unknown field type");
	return ERR_FAIL;	/* NOTREACHED */
}

/*
 * Walks mapping n with fields into obj: unknown and duplicate keys are
 * errors, null values leave the field unset, then required fields that
 * are unset are reported at the mapping's line.
 */
static int
walk_map(struct pctx *c, yaml_node_t *n, const struct field *fields,
    size_t nfields, void *obj)
{
	yaml_node_pair_t	*pair;
	yaml_node_t		*k, *v;
	uint64_t		 seen = 0, set = 0;
	const char		*key;
	size_t			 i, old;
	int			 rc;

	ASSERT(nfields <= 64);
	if ((rc = expect_kind(c, n, YAML_MAPPING_NODE)) != 0)
		return rc;
	for (pair = n->data.mapping.pairs.start;
	    pair < n->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(c->doc, pair->key);
		v = yaml_document_get_node(c->doc, pair->value);
		if (k->type != YAML_SCALAR_NODE)
			return perr(c, k, "keys must be strings, not %s",
			    node_kind(k));
		key = (const char *)k->data.scalar.value;
		for (i = 0; i < nfields; i++)
			if (strcmp(fields[i].name, key) == 0)
				break;
		old = path_push(c, key);
		if (i == nfields)
			rc = perr(c, k, "unknown key");
		else if (seen & (1ULL << i))
			rc = perr(c, k, "duplicate key");
		else {
			seen |= 1ULL << i;
			if (!node_is_null(v)) {
				set |= 1ULL << i;
				rc = field_set(c, &fields[i], v, obj);
			}
		}
		path_pop(c, old);
		if (rc != 0)
			return rc;
	}
	for (i = 0; i < nfields; i++) {
		if (!(fields[i].flags & F_REQUIRED) || (set & (1ULL << i)))
			continue;
		old = path_push(c, fields[i].name);
		rc = perr(c, n, "is required");
		path_pop(c, old);
		return rc;
	}
	return 0;
}

/* Validators. */

static bool
has_space(const char *s)
{
	for (; *s != '\0'; s++)
		if (isspace((unsigned char)*s) || iscntrl((unsigned char)*s))
			return true;
	return false;
}

static int
check_word(struct pctx *c, yaml_node_t *n, const char *s)
{
	if (has_space(s))
		return perr(c, n, "must not contain spaces");
	return 0;
}

static int
check_url(struct pctx *c, yaml_node_t *n, const char *s)
{
	const char	*rest;

	if (strncmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		rest = s + 8;
	else
		return perr(c, n, "must be an http:// or https:// URL");
	if (*rest == '\0' || *rest == '/' || has_space(s))
		return perr(c, n, "must be an http:// or https:// URL");
	return 0;
}

static int
check_repo_name(struct pctx *c, yaml_node_t *n, const char *s)
{
	c->name_line = node_line(n);
	if (has_space(s))
		return perr(c, n, "must not contain spaces");
	if (s[0] == '/' || s[strlen(s) - 1] == '/')
		return perr(c, n, "must not start or end with /");
	return 0;
}

static int
check_pipeline(struct pctx *c, yaml_node_t *n, const char *s)
{
	if (s[0] == '/')
		return perr(c, n, "must be a path relative to the repository");
	return check_word(c, n, s);
}

static int
check_prefix(struct pctx *c, yaml_node_t *n, const char *s)
{
	const char	*p;

	if (strlen(s) > 30)
		return perr(c, n, "must be at most 30 characters");
	if (!(*s >= 'a' && *s <= 'z'))
		return perr(c, n, "must start with a lowercase letter");
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || isdigit((unsigned char)*p) ||
		    *p == '-'))
			return perr(c, n, "must be lowercase letters, digits "
			    "and -");
	return 0;
}

static int
check_dns_label(struct pctx *c, yaml_node_t *n, const char *s)
{
	size_t		 len = strlen(s), i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    isdigit((unsigned char)s[i]) ||
		    (s[i] == '-' && i > 0 && i < len - 1)))
			break;
	if (len > 63 || i < len)
		return perr(c, n, "must be a DNS label (lowercase letters, "
		    "digits and -, at most 63)");
	return 0;
}

/* Digits only, within [0, max]. */
static bool
small_uint(const char *s, size_t len, long max)
{
	long	v = 0;
	size_t	i;

	if (len == 0 || len > 5)
		return false;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max;
}

/* "a.b.c.d/n:port", e.g. "10.0.0.0/8:443". */
static int
check_egress(struct pctx *c, yaml_node_t *n, const char *s)
{
	const char	*p = s, *dot;
	int		 i;

	for (i = 0; i < 4; i++) {
		dot = p;
		while (isdigit((unsigned char)*dot))
			dot++;
		if (!small_uint(p, (size_t)(dot - p), 255) ||
		    *dot != (i < 3 ? '.' : '/'))
			goto bad;
		p = dot + 1;
	}
	dot = strchr(p, ':');
	if (dot == NULL || !small_uint(p, (size_t)(dot - p), 32))
		goto bad;
	p = dot + 1;
	if (!small_uint(p, strlen(p), 65535) || strtol(p, NULL, 10) == 0)
		goto bad;
	return 0;
bad:
	return perr(c, n, "must be CIDR:port, e.g. 10.0.0.0/8:443");
}

/* Field functions. */

static int
parse_listen(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct config	*cfg = obj;
	const char	*s, *colon, *end, *p;
	int64_t		 port;
	int		 rc;

	if ((rc = expect_string(&s, c, n)) != 0)
		return rc;
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL || end == s + 1 ||
		    end[1] != ':')
			return perr(c, n, "must be host:port, :port or "
			    "[ipv6]:port");
		for (p = s + 1; p < end; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' &&
			    *p != '.')
				return perr(c, n, "invalid IPv6 address");
		colon = end + 1;
		cfg->listen_host = xstrndup(s + 1, (size_t)(end - s - 1));
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return perr(c, n, "must be host:port or :port");
		if (memchr(s, ':', (size_t)(colon - s)) != NULL)
			return perr(c, n, "IPv6 addresses need brackets: "
			    "[::1]:8080");
		for (p = s; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-')
				return perr(c, n, "invalid host");
		if (colon > s)
			cfg->listen_host = xstrndup(s, (size_t)(colon - s));
	}
	if (parse_int64(&port, colon + 1, 1, 65535) != 0)
		return perr(c, n, "port must be a number from 1 to 65535");
	cfg->listen_port = (int)port;
	return 0;
}

static int
parse_executor(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct config	*cfg = obj;
	const char	*s;
	int		 rc;

	if ((rc = expect_scalar(&s, c, n, "a string")) != 0)
		return rc;
	if (strcmp(s, "local") == 0)
		cfg->executor = EXECUTOR_LOCAL;
	else if (strcmp(s, "kubernetes") == 0)
		cfg->executor = EXECUTOR_KUBERNETES;
	else
		return perr(c, n, "must be local or kubernetes");
	return 0;
}

static int
parse_log_level(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct config	*cfg = obj;
	const char	*s;
	int		 rc, lvl;

	if ((rc = expect_scalar(&s, c, n, "a string")) != 0)
		return rc;
	if ((lvl = log_level_parse(s)) < 0)
		return perr(c, n, "must be debug, info, warn or error");
	cfg->log_level = lvl;
	return 0;
}

static int
parse_provider(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct config_repo	*repo = obj;
	const char		*s;
	int			 rc;

	if ((rc = expect_scalar(&s, c, n, "a string")) != 0)
		return rc;
	if (strcmp(s, "github") == 0)
		repo->provider = PROVIDER_GITHUB;
	else if (strcmp(s, "gitlab") == 0)
		repo->provider = PROVIDER_GITLAB;
	else
		return perr(c, n, "must be github or gitlab");
	return 0;
}

static int
parse_kubeconfig(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct config_kube	*kube = obj;
	const char		*s;
	int			 rc;

	if ((rc = expect_string(&s, c, n)) != 0)
		return rc;
	return expand_path(&kube->kubeconfig, c, n, s, false);
}

static int
parse_kube(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct config	*cfg = obj;

	return walk_map(c, n, kube_fields, NFIELDS(kube_fields), &cfg->kube);
}

static int
parse_resources_defaults(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct config_kube	*kube = obj;

	c->defaults_line = node_line(n);
	return walk_map(c, n, defaults_fields, NFIELDS(defaults_fields),
	    &kube->defaults);
}

static int
parse_resources_quota(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct config_kube	*kube = obj;

	c->quota_line = node_line(n);
	return walk_map(c, n, quota_fields, NFIELDS(quota_fields),
	    &kube->quota);
}

static int
parse_deploy(struct pctx *c, yaml_node_t *n, void *obj)
{
	return walk_map(c, n, deploy_fields, NFIELDS(deploy_fields), obj);
}

/* name: env:X pairs; any name, each value a secret. */
static int
parse_secrets(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct config_repo	*repo = obj;
	yaml_node_pair_t	*pair;
	yaml_node_t		*k, *v;
	const char		*name;
	size_t			 count, i, old;
	int			 rc;

	if ((rc = expect_kind(c, n, YAML_MAPPING_NODE)) != 0)
		return rc;
	count = (size_t)(n->data.mapping.pairs.top -
	    n->data.mapping.pairs.start);
	if (count > SECRETS_MAX)
		return perr(c, n, "at most %d secrets", SECRETS_MAX);
	repo->secrets = xcalloc(count + 1, sizeof(*repo->secrets));
	for (pair = n->data.mapping.pairs.start;
	    pair < n->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(c->doc, pair->key);
		v = yaml_document_get_node(c->doc, pair->value);
		if ((rc = expect_string(&name, c, k)) != 0)
			return rc;
		old = path_push(c, name);
		if (!env_name_valid(name))
			rc = perr(c, k, "secret names are letters, digits "
			    "and _");
		for (i = 0; rc == 0 && i < repo->nsecrets; i++)
			if (strcmp(repo->secrets[i].name, name) == 0)
				rc = perr(c, k, "duplicate key");
		if (rc == 0)
			rc = value_secret(&repo->secrets[repo->nsecrets].value,
			    c, v);
		path_pop(c, old);
		if (rc != 0)
			return rc;
		repo->secrets[repo->nsecrets++].name = xstrdup(name);
	}
	return 0;
}

static void
strip_slashes(char *url)
{
	size_t	len = strlen(url);

	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
}

static int
parse_repo(struct pctx *c, yaml_node_t *n, struct config *cfg, size_t i)
{
	struct config_repo	*repo = &cfg->repos[i];
	size_t			 j;
	int			 rc;

	repo->concurrency = 1;
	repo->cancel_superseded = false;
	c->name_line = node_line(n);
	if ((rc = walk_map(c, n, repo_fields, NFIELDS(repo_fields), repo)) != 0)
		return rc;
	if (repo->branch == NULL)
		repo->branch = xstrdup("master");
	if (repo->pipeline == NULL)
		repo->pipeline = xstrdup(".ferry.yml");
	if (repo->api_url == NULL)
		repo->api_url = xstrdup(repo->provider == PROVIDER_GITHUB ?
		    "https://api.github.com" : "https://gitlab.com/api/v4");
	strip_slashes(repo->api_url);
	for (j = 0; j < i; j++) {
		if (cfg->repos[j].provider != repo->provider ||
		    strcmp(cfg->repos[j].name, repo->name) != 0)
			continue;
		path_push(c, "name");
		return perr_line(c, c->name_line, "duplicate repo %s %.100s "
		    "(also repos[%zu])", config_provider_name(repo->provider),
		    repo->name, j);
	}
	return 0;
}

static int
parse_repos(struct pctx *c, yaml_node_t *n, void *obj)
{
	struct config		*cfg = obj;
	yaml_node_item_t	*it;
	size_t			 i = 0, old;
	int			 rc;

	if ((rc = expect_kind(c, n, YAML_SEQUENCE_NODE)) != 0)
		return rc;
	cfg->nrepos = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	cfg->repos = xcalloc(cfg->nrepos + 1, sizeof(*cfg->repos));
	for (it = n->data.sequence.items.start;
	    it < n->data.sequence.items.top; it++, i++) {
		old = path_index(c, i);
		rc = parse_repo(c, yaml_document_get_node(c->doc, *it), cfg,
		    i);
		path_pop(c, old);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* The whole file. */

static void
config_defaults(struct config *cfg)
{
	cfg->workers = 4;
	cfg->max_body = MiB;
	cfg->executor = EXECUTOR_LOCAL;
	cfg->request_timeout_ms = 30 * 1000;
	cfg->max_connections = 1024;
	cfg->log_max = 16 * MiB;
	cfg->log_level = LOGL_INFO;
	cfg->kube.defaults.cpu_milli = 500;
	cfg->kube.defaults.memory = 512 * MiB;
	cfg->kube.quota.cpu_milli = 4000;
	cfg->kube.quota.memory = 8 * GiB;
	cfg->kube.quota.pods = 10;
	cfg->kube.schedule_timeout_ms = 5 * 60 * 1000;
	cfg->kube.image_pull_timeout_ms = 2 * 60 * 1000;
}

/* Defaults that depend on what was read, and checks across keys. */
static int
config_finish(struct pctx *c, struct config *cfg)
{
	struct config_kube	*k = &cfg->kube;
	const char		*host;
	size_t			 old, line;
	int			 rc = 0;

	if (cfg->listen_port == 0) {
		cfg->listen_host = xstrdup("127.0.0.1");
		cfg->listen_port = 8080;
	}
	if (cfg->data_dir == NULL)
		cfg->data_dir = xstrdup("./var");
	if (cfg->public_url == NULL) {
		host = cfg->listen_host != NULL ? cfg->listen_host :
		    "localhost";
		cfg->public_url = xasprintf(strchr(host, ':') != NULL ?
		    "http://[%s]:%d" : "http://%s:%d", host, cfg->listen_port);
	}
	strip_slashes(cfg->public_url);
	if (k->namespace_prefix == NULL)
		k->namespace_prefix = xstrdup("ferry-");
	if (k->source_image == NULL)
		k->source_image = xstrdup("busybox:1.36");

	/*
	 * A step given the defaults must fit in its run's quota; report it
	 * where the operator wrote one of the two.
	 */
	line = c->defaults_line != 0 ? c->defaults_line : c->quota_line;
	if (line == 0)
		return 0;
	if (k->defaults.cpu_milli > k->quota.cpu_milli) {
		old = path_push(c, "kubernetes.defaults.cpu");
		rc = perr_line(c, line, "exceeds kubernetes.quota.cpu");
		path_pop(c, old);
	} else if (k->defaults.memory > k->quota.memory) {
		old = path_push(c, "kubernetes.defaults.memory");
		rc = perr_line(c, line, "exceeds kubernetes.quota.memory");
		path_pop(c, old);
	}
	return rc;
}

static int
yaml_error(struct pctx *c, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return err_set(ERR_FAIL, "%s: out of memory parsing yaml",
		    c->file);
	if (p->error == YAML_READER_ERROR)
		return err_set(ERR_INVALID, "%s: yaml: %s at byte %zu",
		    c->file, p->problem ? p->problem : "cannot read",
		    p->problem_offset);
	if (p->context != NULL)
		return err_set(ERR_INVALID, "%s:%zu:%zu: yaml: %s %s",
		    c->file, p->problem_mark.line + 1,
		    p->problem_mark.column + 1, p->context,
		    p->problem ? p->problem : "syntax error");
	return err_set(ERR_INVALID, "%s:%zu:%zu: yaml: %s", c->file,
	    p->problem_mark.line + 1, p->problem_mark.column + 1,
	    p->problem ? p->problem : "syntax error");
}

int
config_parse(struct config **out, const char *path, const char *text,
    size_t len)
{
	struct pctx	 c;
	struct config	*cfg = NULL;
	yaml_parser_t	 parser;
	yaml_document_t	 doc, extra;
	yaml_node_t	*root;
	const char	*slash;
	int		 rc = 0, have_doc = 0;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.file = path;
	c.doc = &doc;
	if ((slash = strrchr(path, '/')) == NULL)
		c.dir = xstrdup(".");
	else if (slash == path)
		c.dir = xstrdup("/");
	else
		c.dir = xstrndup(path, (size_t)(slash - path));

	if (!yaml_parser_initialize(&parser)) {
		free(c.dir);
		return err_set(ERR_FAIL, "cannot initialise the yaml parser");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text,
	    len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = yaml_error(&c, &parser);
		goto out;
	}
	have_doc = 1;
	if (!yaml_parser_load(&parser, &extra)) {
		rc = yaml_error(&c, &parser);
		goto out;
	}
	root = yaml_document_get_root_node(&extra);
	if (root != NULL)
		rc = err_set(ERR_INVALID, "%s:%zu: only one yaml document is "
		    "allowed", path, node_line(root));
	yaml_document_delete(&extra);
	if (rc != 0)
		goto out;

	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(path);
	config_defaults(cfg);
	root = yaml_document_get_root_node(&doc);
	if (root != NULL && !node_is_null(root) &&
	    (rc = walk_map(&c, root, top_fields, NFIELDS(top_fields),
	    cfg)) != 0)
		goto out;
	if ((rc = config_finish(&c, cfg)) != 0)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	if (have_doc)
		yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	config_free(cfg);
	free(c.dir);
	return rc;
}

int
config_load(struct config **out, const char *path)
{
	char	*text;
	size_t	 len;
	int	 rc;

	*out = NULL;
	if ((rc = file_read(&text, &len, path, CONFIG_FILE_MAX)) != 0) {
		if (rc == ERR_TOOBIG)
			return err_set(ERR_INVALID, "%s: larger than 1 MiB",
			    path);
		return rc == ERR_NOTFOUND ? rc : ERR_INVALID;
	}
	rc = config_parse(out, path, text, len);
	wipe(text, len);	/* a refused plain secret may be in it */
	free(text);
	return rc;
}

static void
strv_free(char **v, size_t n, bool secret)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (secret)
			free_secret(v[i]);
		else
			free(v[i]);
	}
	free(v);
}

static void
repo_dispose(struct config_repo *r)
{
	size_t	i;

	free(r->name);
	free(r->clone_url);
	free_secret(r->secret);
	free(r->branch);
	free(r->pipeline);
	free_secret(r->status_token);
	free(r->api_url);
	strv_free(r->notify, r->nnotify, false);
	free(r->deploy_namespace);
	free(r->deploy_role);
	if (r->secrets != NULL) {
		for (i = 0; i < r->nsecrets; i++) {
			free(r->secrets[i].name);
			free_secret(r->secrets[i].value);
		}
		free(r->secrets);
	}
}

void
config_free(struct config *cfg)
{
	size_t	i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->listen_host);
	free(cfg->data_dir);
	free(cfg->public_url);
	strv_free(cfg->api_tokens, cfg->napi_tokens, true);
	free(cfg->kube.kubeconfig);
	free(cfg->kube.context);
	free(cfg->kube.namespace_prefix);
	free(cfg->kube.source_image);
	strv_free(cfg->kube.egress, cfg->kube.negress, false);
	for (i = 0; i < cfg->nrepos && cfg->repos != NULL; i++)
		repo_dispose(&cfg->repos[i]);
	free(cfg->repos);
	free(cfg);
}

const struct config_repo *
config_repo_find(const struct config *cfg, enum config_provider provider,
    const char *name)
{
	size_t	i;

	for (i = 0; i < cfg->nrepos; i++)
		if (cfg->repos[i].provider == provider &&
		    strcmp(cfg->repos[i].name, name) == 0)
			return &cfg->repos[i];
	return NULL;
}

const struct config_repo *
config_repo_by_name(const struct config *cfg, const char *name)
{
	size_t	i;

	for (i = 0; i < cfg->nrepos; i++)
		if (strcmp(cfg->repos[i].name, name) == 0)
			return &cfg->repos[i];
	return NULL;
}

const char *
config_provider_name(enum config_provider p)
{
	switch (p) {
	case PROVIDER_GITHUB:
		return "github";
	case PROVIDER_GITLAB:
		return "gitlab";
	}
	return "unknown";
}
