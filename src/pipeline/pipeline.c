/*
 * DESIGN
 *
 * Three passes over a node tree built by tree.c (kept until the end, so
 * every error can point at its node):
 *   1. each step mapping is checked key by key into a struct
 *      pipeline_step, while the positions of its name and needs entries
 *      are kept aside in a struct step_src;
 *   2. names are checked for duplicates and needs resolved to indexes;
 *   3. cycles are looked for among the resolved needs (plan.c).
 * Validation never stops at the first problem: every error is collected,
 * then sorted into file order, so `ferry lint` shows them all at once.
 * A null value (`image:` or `image: ~`) counts as the key being absent.
 */
#include "pipeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_int.h"
#include "util.h"

#define SHOW_MAX	64	/* bytes of user text quoted in a message */

/* Where a step's name and needs were, for pass 2 and 3 messages. */
struct step_src {
	const struct pnode	 *name;	/* the name's value node */
	const struct pnode	**needs;	/* each needs item */
	size_t			  nneeds;
};

struct ctx {
	struct pipeline_errors		*errs;
	const struct pipeline_limits	*lim;
	struct pipeline			*p;
	struct step_src			*src;	/* as p->steps */
	size_t				 nsrc;	/* allocated */
};

/*
 * Copies at most SHOW_MAX bytes of user text into out (SHOW_MAX + 4),
 * with control characters and '"' replaced by '?', so every message
 * stays on one line.
 */
static const char *
show(char *out, const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0' && i < SHOW_MAX; i++)
		out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    s[i] == '"') ? '?' : s[i];
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

#define ERR_AT(c, n, ...) \
	pipeline_errors_add((c)->errs, (n)->line, (n)->col, __VA_ARGS__)

static bool
is_dns_label(const char *s)
{
	size_t	i, len = strlen(s);

	if (len == 0 || len > PIPELINE_MAX_NAME)
		return false;
	for (i = 0; i < len; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (s[i] == '-' && i != 0 && i != len - 1)
			continue;
		return false;
	}
	return true;
}

static bool
is_env_name(const char *s)
{
	size_t	i;

	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
	    s[0] == '_'))
		return false;
	for (i = 1; s[i] != '\0'; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* Names ferry sets itself in every step (SPEC.md "Pipeline file"). */
static bool
is_reserved_env(const char *s)
{
	return strcmp(s, "CI") == 0 || strncmp(s, "FERRY_", 6) == 0;
}

/*
 * Checks that map's key at index i is a string seen for the first time
 * in map; reports otherwise.
 */
static bool
key_ok(struct ctx *c, const struct pnode *map, size_t i)
{
	const struct pnode	*k = map->kids[i];
	char			 buf[SHOW_MAX + 4];
	size_t			 j;

	if (k->type != PNODE_SCALAR) {
		ERR_AT(c, k, "keys must be strings");
		return false;
	}
	for (j = 0; j < i; j += 2)
		if (map->kids[j]->type == PNODE_SCALAR &&
		    strcmp(map->kids[j]->str, k->str) == 0) {
			ERR_AT(c, k, "duplicate key \"%s\" (first at line %d)",
			    show(buf, k->str), map->kids[j]->line);
			return false;
		}
	return true;
}

/* The value of key in map, or NULL; the first one if repeated. */
static const struct pnode *
map_get(const struct pnode *map, const char *key)
{
	size_t	i;

	for (i = 0; i + 1 < map->nkids; i += 2)
		if (map->kids[i]->type == PNODE_SCALAR &&
		    strcmp(map->kids[i]->str, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

static void
step_name(struct ctx *c, struct pipeline_step *st, struct step_src *src,
    const struct pnode *v)
{
	char	buf[SHOW_MAX + 4];

	if (v->type != PNODE_SCALAR) {
		ERR_AT(c, v, "step name must be a string");
		return;
	}
	if (!is_dns_label(v->str)) {
		ERR_AT(c, v, "step name \"%s\" must be a DNS-1123 label (lower "
		    "case letters, digits and '-', at most 40 characters)",
		    show(buf, v->str));
		return;
	}
	st->name = xstrdup(v->str);
	src->name = v;
}

static void
step_image(struct ctx *c, struct pipeline_step *st, const struct pnode *v)
{
	char		 buf[SHOW_MAX + 4];
	const char	*s;

	if (v->type != PNODE_SCALAR) {
		ERR_AT(c, v, "image must be a string");
		return;
	}
	for (s = v->str; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			break;
	if (*v->str == '\0' || *s != '\0') {
		ERR_AT(c, v, "invalid image \"%s\"", show(buf, v->str));
		return;
	}
	st->image = xstrdup(v->str);
}

static void
step_commands(struct ctx *c, struct pipeline_step *st, const char *label,
    const struct pnode *v)
{
	const struct pnode	*it;
	const char		*s;
	size_t			 i;

	if (v->type != PNODE_SEQ) {
		ERR_AT(c, v, "commands must be a list of strings");
		return;
	}
	if (v->nkids == 0) {
		ERR_AT(c, v, "%s has no commands", label);
		return;
	}
	if (v->nkids > PIPELINE_MAX_COMMANDS)
		ERR_AT(c, v->kids[PIPELINE_MAX_COMMANDS], "too many commands "
		    "in %s (%zu; at most %d)", label, v->nkids,
		    PIPELINE_MAX_COMMANDS);
	st->commands = xcalloc(v->nkids, sizeof(*st->commands));
	for (i = 0; i < v->nkids; i++) {
		it = v->kids[i];
		if (it->type != PNODE_SCALAR) {
			ERR_AT(c, it, "commands must be strings");
			continue;
		}
		for (s = it->str; *s == ' ' || *s == '\t' || *s == '\n'; s++)
			;
		if (*s == '\0') {
			ERR_AT(c, it, "empty command");
			continue;
		}
		st->commands[st->ncommands++] = xstrdup(it->str);
	}
}

static void
step_needs(struct ctx *c, struct step_src *src, const struct pnode *v)
{
	size_t	i;

	c->p->dag = true;
	if (pnode_is_null(v))
		return;
	if (v->type != PNODE_SEQ) {
		ERR_AT(c, v, "needs must be a list of step names");
		return;
	}
	src->needs = xcalloc(v->nkids, sizeof(*src->needs));
	for (i = 0; i < v->nkids; i++) {
		if (v->kids[i]->type != PNODE_SCALAR ||
		    pnode_is_null(v->kids[i])) {
			ERR_AT(c, v->kids[i], "needs must be a list of step "
			    "names");
			continue;
		}
		src->needs[src->nneeds++] = v->kids[i];
	}
}

static void
step_deploy(struct ctx *c, struct pipeline_step *st, const struct pnode *v)
{
	static const char *const	yes[] = { "true", "True", "TRUE" };
	static const char *const	no[] = { "false", "False", "FALSE" };
	size_t				i;

	if (v->type == PNODE_SCALAR && v->plain)
		for (i = 0; i < 3; i++) {
			if (strcmp(v->str, yes[i]) == 0) {
				st->deploy = true;
				return;
			}
			if (strcmp(v->str, no[i]) == 0) {
				st->deploy = false;
				return;
			}
		}
	ERR_AT(c, v, "deploy must be true or false");
}

static void
step_timeout(struct ctx *c, struct pipeline_step *st, const struct pnode *v)
{
	char	buf[SHOW_MAX + 4];
	int64_t	ms;

	if (v->type != PNODE_SCALAR) {
		ERR_AT(c, v, "timeout must be a duration such as 30s, 5m, "
		    "1h");
		return;
	}
	if (parse_duration_ms(&ms, v->str) != 0) {
		ERR_AT(c, v, "invalid duration \"%s\" (use e.g. 30s, 5m, 1h)",
		    show(buf, v->str));
		return;
	}
	if (ms > PIPELINE_MAX_TIMEOUT_MS) {
		ERR_AT(c, v, "timeout %s exceeds the maximum of 24h",
		    show(buf, v->str));
		return;
	}
	st->timeout_ms = ms;
}

static void
step_resources(struct ctx *c, struct pipeline_step *st, const struct pnode *v)
{
	const struct pnode	*k, *val;
	char			 buf[SHOW_MAX + 4], a[32], b[32];
	size_t			 i;
	int64_t			 q;

	if (v->type != PNODE_MAP) {
		ERR_AT(c, v, "resources must be a mapping with cpu and memory");
		return;
	}
	for (i = 0; i + 1 < v->nkids; i += 2) {
		if (!key_ok(c, v, i))
			continue;
		k = v->kids[i];
		val = v->kids[i + 1];
		if (strcmp(k->str, "cpu") != 0 &&
		    strcmp(k->str, "memory") != 0) {
			ERR_AT(c, k, "unknown key \"%s\" in resources "
			    "(cpu and memory only)", show(buf, k->str));
			continue;
		}
		if (pnode_is_null(val))
			continue;
		if (strcmp(k->str, "cpu") == 0) {
			if (val->type != PNODE_SCALAR ||
			    pipeline_cpu_parse(&q, val->str) != 0) {
				ERR_AT(c, val, "invalid cpu quantity \"%s\"",
				    val->type == PNODE_SCALAR ?
				    show(buf, val->str) : "");
				continue;
			}
			st->cpu_milli = q;
			if (c->lim != NULL && c->lim->quota_cpu_milli > 0 &&
			    q > c->lim->quota_cpu_milli)
				ERR_AT(c, val, "cpu %" PRId64 "m exceeds the "
				    "server's quota of %" PRId64 "m", q,
				    c->lim->quota_cpu_milli);
		} else {
			if (val->type != PNODE_SCALAR ||
			    pipeline_memory_parse(&q, val->str) != 0) {
				ERR_AT(c, val, "invalid memory quantity "
				    "\"%s\"", val->type == PNODE_SCALAR ?
				    show(buf, val->str) : "");
				continue;
			}
			st->memory = q;
			if (c->lim != NULL && c->lim->quota_memory > 0 &&
			    q > c->lim->quota_memory) {
				pipeline_memory_format(a, sizeof(a), q);
				pipeline_memory_format(b, sizeof(b),
				    c->lim->quota_memory);
				ERR_AT(c, val, "memory %s exceeds the server's "
				    "quota of %s", a, b);
			}
		}
	}
}

static void
step_env(struct ctx *c, struct pipeline_step *st, const struct pnode *v)
{
	const struct pnode	*k, *val;
	char			 buf[SHOW_MAX + 4];
	size_t			 i;

	if (v->type != PNODE_MAP) {
		ERR_AT(c, v, "env must be a mapping of names to values");
		return;
	}
	st->env = xcalloc(v->nkids / 2 + 1, sizeof(*st->env));
	for (i = 0; i + 1 < v->nkids; i += 2) {
		if (!key_ok(c, v, i))
			continue;
		k = v->kids[i];
		val = v->kids[i + 1];
		if (!is_env_name(k->str)) {
			ERR_AT(c, k, "env name \"%s\" is not a valid variable "
			    "name ([A-Za-z_][A-Za-z0-9_]*)", show(buf, k->str));
			continue;
		}
		if (is_reserved_env(k->str)) {
			ERR_AT(c, k, "env name \"%s\" is reserved (ferry sets "
			    "CI and FERRY_*)", show(buf, k->str));
			continue;
		}
		if (val->type != PNODE_SCALAR) {
			ERR_AT(c, val, "env value of \"%s\" must be a string",
			    show(buf, k->str));
			continue;
		}
		st->env[st->nenv].name = xstrdup(k->str);
		st->env[st->nenv].value = xstrdup(pnode_is_null(val) ? "" :
		    val->str);
		st->nenv++;
	}
}

static bool
secret_defined(const struct pipeline_limits *lim, const char *name)
{
	size_t	i;

	for (i = 0; i < lim->nsecret_names; i++)
		if (strcmp(lim->secret_names[i], name) == 0)
			return true;
	return false;
}

static void
step_secrets(struct ctx *c, struct pipeline_step *st, const struct pnode *v)
{
	const struct pnode	*it;
	char			 buf[SHOW_MAX + 4];
	size_t			 i, j;

	if (v->type != PNODE_SEQ) {
		ERR_AT(c, v, "secrets must be a list of secret names");
		return;
	}
	st->secrets = xcalloc(v->nkids + 1, sizeof(*st->secrets));
	for (i = 0; i < v->nkids; i++) {
		it = v->kids[i];
		if (it->type != PNODE_SCALAR || pnode_is_null(it)) {
			ERR_AT(c, it, "secrets must be a list of secret names");
			continue;
		}
		if (!is_env_name(it->str)) {
			ERR_AT(c, it, "secret name \"%s\" is not a valid "
			    "variable name", show(buf, it->str));
			continue;
		}
		if (is_reserved_env(it->str)) {
			ERR_AT(c, it, "secret name \"%s\" is reserved (ferry "
			    "sets CI and FERRY_*)", show(buf, it->str));
			continue;
		}
		for (j = 0; j < st->nsecrets; j++)
			if (strcmp(st->secrets[j], it->str) == 0)
				break;
		if (j < st->nsecrets) {
			ERR_AT(c, it, "secret \"%s\" is listed twice",
			    show(buf, it->str));
			continue;
		}
		if (c->lim != NULL && !secret_defined(c->lim, it->str)) {
			ERR_AT(c, it, "secret \"%s\" is not defined for this "
			    "repository", show(buf, it->str));
			continue;
		}
		st->secrets[st->nsecrets++] = xstrdup(it->str);
	}
}

/* A secret reaches the step as an env var of its name: no clash. */
static void
step_env_secret_clash(struct ctx *c, const struct pipeline_step *st,
    const struct pnode *map)
{
	const struct pnode	*env = map_get(map, "env");
	size_t			 i, j;

	if (env == NULL || env->type != PNODE_MAP)
		return;
	for (i = 0; i + 1 < env->nkids; i += 2)
		for (j = 0; j < st->nsecrets; j++)
			if (env->kids[i]->type == PNODE_SCALAR &&
			    strcmp(env->kids[i]->str, st->secrets[j]) == 0)
				ERR_AT(c, env->kids[i], "env \"%s\" clashes "
				    "with the secret of that name",
				    st->secrets[j]);
}

static void
step_parse(struct ctx *c, struct pipeline_step *st, struct step_src *src,
    const struct pnode *map)
{
	const struct pnode	*k, *v;
	char			 buf[SHOW_MAX + 4], label[64];
	size_t			 i;
	bool			 have_commands = false;

	st->line = map->line;
	st->col = map->col;
	st->timeout_ms = (c->lim != NULL && c->lim->default_timeout_ms > 0) ?
	    c->lim->default_timeout_ms : PIPELINE_DEFAULT_TIMEOUT_MS;

	/* The name first, so later messages can use it. */
	if ((v = map_get(map, "name")) != NULL && !pnode_is_null(v))
		step_name(c, st, src, v);
	else
		ERR_AT(c, map, "step has no name");
	if (st->name != NULL)
		snprintf(label, sizeof(label), "step \"%s\"", st->name);
	else
		snprintf(label, sizeof(label), "step at line %d", map->line);

	for (i = 0; i + 1 < map->nkids; i += 2) {
		if (!key_ok(c, map, i))
			continue;
		k = map->kids[i];
		v = map->kids[i + 1];
		if (strcmp(k->str, "name") == 0)
			continue;
		else if (strcmp(k->str, "needs") == 0)
			step_needs(c, src, v);
		else if (strcmp(k->str, "commands") == 0) {
			if (!pnode_is_null(v)) {
				have_commands = true;
				step_commands(c, st, label, v);
			}
		} else if (strcmp(k->str, "image") == 0 ||
		    strcmp(k->str, "deploy") == 0 ||
		    strcmp(k->str, "timeout") == 0 ||
		    strcmp(k->str, "resources") == 0 ||
		    strcmp(k->str, "env") == 0 ||
		    strcmp(k->str, "secrets") == 0) {
			if (pnode_is_null(v))
				continue;
			switch (k->str[0]) {
			case 'i':
				step_image(c, st, v);
				break;
			case 'd':
				step_deploy(c, st, v);
				break;
			case 't':
				step_timeout(c, st, v);
				break;
			case 'r':
				step_resources(c, st, v);
				break;
			case 'e':
				step_env(c, st, v);
				break;
			default:
				step_secrets(c, st, v);
				break;
			}
		} else
			ERR_AT(c, k, "unknown key \"%s\"", show(buf, k->str));
	}
	if (!have_commands)
		ERR_AT(c, map, "%s has no commands", label);
	step_env_secret_clash(c, st, map);
}

/* Pass 2: unique names; needs resolved to indexes. */
static void
steps_link(struct ctx *c)
{
	struct pipeline		*p = c->p;
	struct pipeline_step	*st;
	struct step_src		*src;
	const struct pnode	*it;
	char			 buf[SHOW_MAX + 4];
	size_t			 i, j, k;
	int			 idx;

	for (i = 0; i < p->nsteps; i++) {
		if (p->steps[i].name == NULL)
			continue;
		for (j = 0; j < i; j++)
			if (p->steps[j].name != NULL &&
			    strcmp(p->steps[j].name, p->steps[i].name) == 0)
				break;
		if (j < i)
			ERR_AT(c, c->src[i].name, "duplicate step name \"%s\" "
			    "(first at line %d)", p->steps[i].name,
			    c->src[j].name->line);
	}
	for (i = 0; i < p->nsteps; i++) {
		st = &p->steps[i];
		src = &c->src[i];
		st->needs = xcalloc(src->nneeds + 1, sizeof(*st->needs));
		st->needs_idx = xcalloc(src->nneeds + 1,
		    sizeof(*st->needs_idx));
		for (j = 0; j < src->nneeds; j++) {
			it = src->needs[j];
			idx = pipeline_step_index(p, it->str);
			if (idx < 0) {
				ERR_AT(c, it, "needs: unknown step \"%s\"",
				    show(buf, it->str));
				continue;
			}
			if ((size_t)idx == i) {
				ERR_AT(c, it, "step needs itself");
				continue;
			}
			for (k = 0; k < st->nneeds; k++)
				if (st->needs_idx[k] == (size_t)idx)
					break;
			if (k < st->nneeds) {
				ERR_AT(c, it, "needs: \"%s\" is listed twice",
				    it->str);
				continue;
			}
			/* Keep the node of each kept need for pass 3. */
			src->needs[st->nneeds] = it;
			st->needs[st->nneeds] = xstrdup(it->str);
			st->needs_idx[st->nneeds++] = (size_t)idx;
		}
		src->nneeds = st->nneeds;
	}
}

/* Pass 3: each independent cycle once, at its first step's need. */
static void
steps_cycles(struct ctx *c)
{
	struct pipeline	*p = c->p;
	struct buf	 b;
	size_t		*order, *cycle, n, i, j;
	bool		*done;

	order = xcalloc(p->nsteps, sizeof(*order));
	cycle = xcalloc(p->nsteps, sizeof(*cycle));
	done = xcalloc(p->nsteps, sizeof(*done));
	if (pipeline_toposort(order, done, p) < p->nsteps) {
		while ((n = pipeline_cycle_next(cycle, done, p)) > 0) {
			buf_init(&b, SIZE_MAX);
			buf_puts(&b, "dependency cycle: ");
			for (i = 0; i < n; i++) {
				buf_puts(&b, p->steps[cycle[i]].name);
				buf_puts(&b, " -> ");
			}
			buf_puts(&b, p->steps[cycle[0]].name);
			for (j = 0; j < p->steps[cycle[0]].nneeds; j++)
				if (p->steps[cycle[0]].needs_idx[j] ==
				    cycle[1 % n])
					break;
			ASSERT(j < p->steps[cycle[0]].nneeds);
			ERR_AT(c, c->src[cycle[0]].needs[j], "%s", b.data);
			buf_dispose(&b);
		}
	}
	free(done);
	free(cycle);
	free(order);
}

/* The sequential default: each step needs the one before. */
static void
steps_chain(struct pipeline *p)
{
	size_t	i;

	for (i = 1; i < p->nsteps; i++) {
		ASSERT(p->steps[i].nneeds == 0);
		p->steps[i].needs[0] = xstrdup(p->steps[i - 1].name);
		p->steps[i].needs_idx[0] = i - 1;
		p->steps[i].nneeds = 1;
	}
}

static void
pipeline_build(struct ctx *c, const struct pnode *root)
{
	const struct pnode	*k, *steps = NULL, *it;
	struct pipeline		*p = c->p;
	char			 buf[SHOW_MAX + 4];
	size_t			 i;

	if (root->type != PNODE_MAP) {
		ERR_AT(c, root, "pipeline file must be a mapping with a "
		    "\"steps\" key");
		return;
	}
	for (i = 0; i + 1 < root->nkids; i += 2) {
		if (!key_ok(c, root, i))
			continue;
		k = root->kids[i];
		if (strcmp(k->str, "steps") == 0)
			steps = root->kids[i + 1];
		else
			ERR_AT(c, k, "unknown key \"%s\"", show(buf, k->str));
	}
	if (steps == NULL) {
		ERR_AT(c, root, "pipeline has no steps");
		return;
	}
	if (pnode_is_null(steps) ||
	    (steps->type == PNODE_SEQ && steps->nkids == 0)) {
		ERR_AT(c, steps, "pipeline has no steps");
		return;
	}
	if (steps->type != PNODE_SEQ) {
		ERR_AT(c, steps, "steps must be a list");
		return;
	}
	if (steps->nkids > PIPELINE_MAX_STEPS)
		ERR_AT(c, steps->kids[PIPELINE_MAX_STEPS], "too many steps "
		    "(%zu; at most %d)", steps->nkids, PIPELINE_MAX_STEPS);
	p->steps = xcalloc(steps->nkids, sizeof(*p->steps));
	c->src = xcalloc(steps->nkids, sizeof(*c->src));
	c->nsrc = steps->nkids;
	for (i = 0; i < steps->nkids; i++) {
		it = steps->kids[i];
		if (it->type != PNODE_MAP) {
			ERR_AT(c, it, "each step must be a mapping");
			continue;
		}
		step_parse(c, &p->steps[p->nsteps], &c->src[p->nsteps], it);
		p->nsteps++;
	}
	steps_link(c);
	/* Above the limit a cycle search is wasted work on a bad file. */
	if (p->dag && p->nsteps <= PIPELINE_MAX_STEPS)
		steps_cycles(c);
}

static int
error_cmp(const struct pipeline_error *a, const struct pipeline_error *b)
{
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return 0;
}

/* Stable: errors at the same node keep the order they were found in. */
static void
errors_sort(struct pipeline_errors *errs)
{
	struct pipeline_error	tmp;
	size_t			i, j;

	for (i = 1; i < errs->n; i++) {
		tmp = errs->v[i];
		for (j = i; j > 0 && error_cmp(&errs->v[j - 1], &tmp) > 0; j--)
			errs->v[j] = errs->v[j - 1];
		errs->v[j] = tmp;
	}
}

int
pipeline_parse(struct pipeline **out, struct pipeline_errors *errs,
    const char *text, size_t len, const struct pipeline_limits *lim)
{
	struct pipeline_errors	 local = { NULL, 0 };
	struct ctx		 c;
	struct pnode		*root = NULL;
	size_t			 i;
	int			 rc;

	*out = NULL;
	if (errs == NULL)
		errs = &local;
	errs->v = NULL;
	errs->n = 0;
	memset(&c, 0, sizeof(c));
	c.errs = errs;
	c.lim = lim;
	c.p = xcalloc(1, sizeof(*c.p));

	if (len > PIPELINE_MAX_FILE) {
		pipeline_errors_add(errs, 1, 1,
		    "pipeline file is larger than 64 KiB");
		rc = err_set(ERR_TOOBIG, "1:1: pipeline file is larger than "
		    "64 KiB");
		goto out;
	}
	if ((rc = pnode_load(&root, errs, text, len)) != 0) {
		if (errs->n == 0)	/* libyaml failed to initialise */
			goto out;
	} else if (root == NULL)
		pipeline_errors_add(errs, 1, 1, "pipeline file is empty");
	else
		pipeline_build(&c, root);

	if (errs->n > 0) {
		errors_sort(errs);
		if (errs->n > 1)
			rc = err_set(ERR_INVALID, "%d:%d: %s (and %zu more)",
			    errs->v[0].line, errs->v[0].col, errs->v[0].msg,
			    errs->n - 1);
		else
			rc = err_set(ERR_INVALID, "%d:%d: %s",
			    errs->v[0].line, errs->v[0].col, errs->v[0].msg);
		goto out;
	}
	if (!c.p->dag)
		steps_chain(c.p);
	*out = c.p;
	c.p = NULL;
	rc = 0;
out:
	for (i = 0; i < c.nsrc; i++)
		free(c.src[i].needs);
	free(c.src);
	pnode_free(root);
	pipeline_free(c.p);
	pipeline_errors_dispose(&local);
	return rc;
}

static void
step_dispose(struct pipeline_step *st)
{
	size_t	i;

	free(st->name);
	free(st->image);
	for (i = 0; i < st->ncommands; i++)
		free(st->commands[i]);
	free(st->commands);
	for (i = 0; i < st->nneeds; i++)
		free(st->needs[i]);
	free(st->needs);
	free(st->needs_idx);
	for (i = 0; i < st->nenv; i++) {
		free(st->env[i].name);
		free(st->env[i].value);
	}
	free(st->env);
	for (i = 0; i < st->nsecrets; i++)
		free(st->secrets[i]);
	free(st->secrets);
}

void
pipeline_free(struct pipeline *p)
{
	size_t	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nsteps; i++)
		step_dispose(&p->steps[i]);
	free(p->steps);
	free(p);
}

void
pipeline_errors_dispose(struct pipeline_errors *errs)
{
	size_t	i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->n; i++)
		free(errs->v[i].msg);
	free(errs->v);
	errs->v = NULL;
	errs->n = 0;
}
