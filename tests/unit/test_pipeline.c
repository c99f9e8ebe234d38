/*
 * Unit tests of src/pipeline/: parsing and validating .ferry.yml files
 * under tests/data/pipeline/ (and small inline ones), the limits, the
 * Kubernetes quantities, and planning on parsed pipelines.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pipeline.h"
#include "util.h"

static const char *const repo_secrets[] = { "REGISTRY_PASSWORD", "NPM_TOKEN" };

static const struct pipeline_limits server = {
	.quota_cpu_milli = 4000,
	.quota_memory = 8LL << 30,
	.secret_names = repo_secrets,
	.nsecret_names = 2,
	.default_timeout_ms = 0,
};

static int
parse_str(struct pipeline **out, struct pipeline_errors *errs,
    const char *text, const struct pipeline_limits *lim)
{
	return pipeline_parse(out, errs, text, strlen(text), lim);
}

static int
parse_file(struct pipeline **out, struct pipeline_errors *errs,
    const char *name, const struct pipeline_limits *lim)
{
	char	 path[1024], *text;
	size_t	 len;
	int	 rc;

	snprintf(path, sizeof(path), "%s/pipeline/%s", TEST_DATA_DIR, name);
	ck_assert_msg(file_read(&text, &len, path, 1 << 20) == 0,
	    "cannot read %s", path);
	rc = pipeline_parse(out, errs, text, len, lim);
	free(text);
	return rc;
}

static void
check_err(const struct pipeline_errors *errs, size_t i, int line, int col,
    const char *msg)
{
	ck_assert_msg(i < errs->n, "error %zu missing (%zu errors)", i,
	    errs->n);
	ck_assert_str_eq(errs->v[i].msg, msg);
	ck_assert_int_eq(errs->v[i].line, line);
	ck_assert_int_eq(errs->v[i].col, col);
}

/* Parses text expecting exactly one error, at line:col with msg. */
static void
expect_one(const char *text, const struct pipeline_limits *lim, int line,
    int col, const char *msg)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;

	ck_assert_int_eq(parse_str(&p, &errs, text, lim), ERR_INVALID);
	ck_assert_ptr_null(p);
	check_err(&errs, 0, line, col, msg);
	ck_assert_uint_eq(errs.n, 1);
	pipeline_errors_dispose(&errs);
}

static struct pipeline *
must_parse_file(const char *name, const struct pipeline_limits *lim)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;
	int			 rc;

	rc = parse_file(&p, &errs, name, lim);
	ck_assert_msg(rc == 0, "%s: %s", name, err_msg());
	ck_assert_uint_eq(errs.n, 0);
	pipeline_errors_dispose(&errs);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* n steps "s0".."s<n-1>", each with ncmd commands. */
static char *
gen_steps(size_t n, size_t ncmd)
{
	struct buf	b;
	size_t		i, j;

	buf_init(&b, 1 << 20);
	buf_puts(&b, "steps:\n");
	for (i = 0; i < n; i++) {
		buf_printf(&b, "  - name: s%zu\n    commands:\n", i);
		for (j = 0; j < ncmd; j++)
			buf_printf(&b, "      - echo %zu\n", j);
	}
	return buf_steal(&b);
}

/* --- parse: valid files ------------------------------------------------ */

START_TEST(parse_full_example)
{
	struct pipeline			*p = must_parse_file("full.yml",
					    &server);
	const struct pipeline_step	*s;

	ck_assert(p->dag);
	ck_assert_uint_eq(p->nsteps, 3);

	s = &p->steps[0];
	ck_assert_str_eq(s->name, "build");
	ck_assert_str_eq(s->image, "gcc:13");
	ck_assert_uint_eq(s->ncommands, 1);
	ck_assert_str_eq(s->commands[0], "make");
	ck_assert_uint_eq(s->nneeds, 0);
	ck_assert(!s->deploy);
	ck_assert_int_eq(s->timeout_ms, 3600 * 1000);
	ck_assert_int_eq(s->cpu_milli, 0);
	ck_assert_int_eq(s->memory, 0);
	ck_assert_uint_eq(s->nenv, 0);
	ck_assert_uint_eq(s->nsecrets, 0);
	ck_assert_int_eq(s->line, 2);
	ck_assert_int_eq(s->col, 5);

	s = &p->steps[1];
	ck_assert_str_eq(s->name, "test");
	ck_assert_str_eq(s->image, "gcc:13");
	ck_assert_uint_eq(s->ncommands, 1);
	ck_assert_str_eq(s->commands[0], "make check");
	ck_assert_uint_eq(s->nneeds, 1);
	ck_assert_str_eq(s->needs[0], "build");
	ck_assert_uint_eq(s->needs_idx[0], 0);
	ck_assert(!s->deploy);
	ck_assert_int_eq(s->line, 5);
	ck_assert_int_eq(s->col, 5);

	s = &p->steps[2];
	ck_assert_str_eq(s->name, "deploy");
	ck_assert_str_eq(s->image, "bitnami/kubectl:1.30");
	ck_assert_uint_eq(s->ncommands, 1);
	ck_assert_str_eq(s->commands[0], "kubectl -n shop-prod set image "
	    "deploy/shop app=shop:$FERRY_COMMIT");
	ck_assert_uint_eq(s->nneeds, 1);
	ck_assert_str_eq(s->needs[0], "test");
	ck_assert_uint_eq(s->needs_idx[0], 1);
	ck_assert(s->deploy);
	ck_assert_uint_eq(s->nsecrets, 1);
	ck_assert_str_eq(s->secrets[0], "REGISTRY_PASSWORD");
	ck_assert_int_eq(s->timeout_ms, 5 * 60 * 1000);
	ck_assert_int_eq(s->cpu_milli, 250);
	ck_assert_int_eq(s->memory, 128LL << 20);
	ck_assert_uint_eq(s->nenv, 1);
	ck_assert_str_eq(s->env[0].name, "LOG_LEVEL");
	ck_assert_str_eq(s->env[0].value, "debug");
	ck_assert_int_eq(s->line, 9);
	ck_assert_int_eq(s->col, 5);
	pipeline_free(p);
}
END_TEST

START_TEST(parse_sequential_default)
{
	struct pipeline	*p = must_parse_file("sequential.yml", &server);
	size_t		 i;

	ck_assert(!p->dag);
	ck_assert_uint_eq(p->nsteps, 4);
	ck_assert_uint_eq(p->steps[0].nneeds, 0);
	for (i = 1; i < p->nsteps; i++) {
		ck_assert_uint_eq(p->steps[i].nneeds, 1);
		ck_assert_str_eq(p->steps[i].needs[0], p->steps[i - 1].name);
		ck_assert_uint_eq(p->steps[i].needs_idx[0], i - 1);
	}
	ck_assert_uint_eq(p->steps[1].ncommands, 2);
	ck_assert_str_eq(p->steps[1].commands[1], "make distcheck");
	ck_assert_ptr_null(p->steps[0].image);
	pipeline_free(p);
}
END_TEST

START_TEST(parse_dag_without_needs_is_independent)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;

	/* needs: [] on one step makes it a DAG: a and c depend on nothing. */
	ck_assert_int_eq(parse_str(&p, &errs, "steps:\n"
	    "  - {name: a, commands: [x]}\n"
	    "  - {name: b, commands: [x], needs: []}\n"
	    "  - {name: c, commands: [x]}\n", NULL), 0);
	ck_assert(p->dag);
	ck_assert_uint_eq(p->steps[0].nneeds, 0);
	ck_assert_uint_eq(p->steps[1].nneeds, 0);
	ck_assert_uint_eq(p->steps[2].nneeds, 0);
	pipeline_free(p);
	pipeline_errors_dispose(&errs);
}
END_TEST

START_TEST(parse_scalars_and_defaults)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;
	struct pipeline_limits	 lim = server;

	lim.default_timeout_ms = 10 * 60 * 1000;
	ck_assert_int_eq(parse_str(&p, &errs, "steps:\n"
	    "  - name: x\n"
	    "    image: ~\n"
	    "    commands:\n"
	    "      - 42\n"
	    "      - true\n"
	    "      - 'echo \"hi\"'\n"
	    "    deploy: false\n"
	    "    resources: {cpu: 0.5, memory: 1G}\n"
	    "    env:\n"
	    "      B: 2\n"
	    "      A: \"\"\n"
	    "      EMPTY:\n", &lim), 0);
	ck_assert_ptr_null(p->steps[0].image);
	ck_assert_uint_eq(p->steps[0].ncommands, 3);
	ck_assert_str_eq(p->steps[0].commands[0], "42");
	ck_assert_str_eq(p->steps[0].commands[1], "true");
	ck_assert_str_eq(p->steps[0].commands[2], "echo \"hi\"");
	ck_assert_int_eq(p->steps[0].timeout_ms, 10 * 60 * 1000);
	ck_assert_int_eq(p->steps[0].cpu_milli, 500);
	ck_assert_int_eq(p->steps[0].memory, 1000000000);
	ck_assert_uint_eq(p->steps[0].nenv, 3);
	ck_assert_str_eq(p->steps[0].env[0].name, "B");
	ck_assert_str_eq(p->steps[0].env[0].value, "2");
	ck_assert_str_eq(p->steps[0].env[1].name, "A");
	ck_assert_str_eq(p->steps[0].env[1].value, "");
	ck_assert_str_eq(p->steps[0].env[2].value, "");
	pipeline_free(p);
	pipeline_errors_dispose(&errs);
}
END_TEST

START_TEST(parse_secrets_unchecked_without_limits)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;

	ck_assert_int_eq(parse_str(&p, &errs, "steps:\n"
	    "  - {name: a, commands: [x], secrets: [ANY], "
	    "resources: {cpu: 64}}\n", NULL), 0);
	ck_assert_str_eq(p->steps[0].secrets[0], "ANY");
	ck_assert_int_eq(p->steps[0].cpu_milli, 64000);
	pipeline_free(p);
	pipeline_errors_dispose(&errs);
}
END_TEST

/* --- validate: every error, with its position -------------------------- */

START_TEST(validate_many_errors_in_file_order)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;

	ck_assert_int_eq(parse_file(&p, &errs, "errors.yml", &server),
	    ERR_INVALID);
	ck_assert_ptr_null(p);
	check_err(&errs, 0, 2, 11, "step name \"Build\" must be a DNS-1123 "
	    "label (lower case letters, digits and '-', at most 40 "
	    "characters)");
	check_err(&errs, 1, 4, 5, "unknown key \"comands\"");
	check_err(&errs, 2, 9, 9, "commands must be strings");
	check_err(&errs, 3, 10, 13, "needs: unknown step \"tset\"");
	check_err(&errs, 4, 11, 14,
	    "invalid duration \"5x\" (use e.g. 30s, 5m, 1h)");
	check_err(&errs, 5, 12, 11,
	    "duplicate step name \"test\" (first at line 6)");
	check_err(&errs, 6, 14, 22, "invalid cpu quantity \"abc\"");
	check_err(&errs, 7, 14, 35, "invalid memory quantity \"12Q\"");
	check_err(&errs, 8, 15, 15,
	    "secret \"FOO\" is not defined for this repository");
	check_err(&errs, 9, 16, 13, "deploy must be true or false");
	check_err(&errs, 10, 17, 11,
	    "env name \"CI\" is reserved (ferry sets CI and FERRY_*)");
	check_err(&errs, 11, 17, 24, "env name \"1X\" is not a valid "
	    "variable name ([A-Za-z_][A-Za-z0-9_]*)");
	ck_assert_uint_eq(errs.n, 12);
	/* err_msg() carries the first, positioned. */
	ck_assert_ptr_nonnull(strstr(err_msg(), "2:11: step name \"Build\""));
	ck_assert_ptr_nonnull(strstr(err_msg(), "(and 11 more)"));
	pipeline_errors_dispose(&errs);
	ck_assert_uint_eq(errs.n, 0);
	ck_assert_ptr_null(errs.v);
}
END_TEST

START_TEST(validate_names)
{
	expect_one("steps:\n  - name: -x\n    commands: [a]\n", NULL, 2, 11,
	    "step name \"-x\" must be a DNS-1123 label (lower case letters, "
	    "digits and '-', at most 40 characters)");
	/* 40 characters pass, 41 do not. */
	expect_one("steps:\n"
	    "  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	    "    commands: [a]\n"
	    "  - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	    "    commands: [a]\n", NULL, 4, 11,
	    "step name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" must be "
	    "a DNS-1123 label (lower case letters, digits and '-', at most "
	    "40 characters)");
	expect_one("steps:\n  - commands: [a]\n", NULL, 2, 5,
	    "step has no name");
	expect_one("steps:\n  - name: [a]\n    commands: [a]\n", NULL, 2, 11,
	    "step name must be a string");
	expect_one("steps:\n  - name: a\n    name: b\n    commands: [a]\n",
	    NULL, 3, 5, "duplicate key \"name\" (first at line 2)");
}
END_TEST

START_TEST(validate_commands)
{
	expect_one("steps:\n  - name: a\n", NULL, 2, 5,
	    "step \"a\" has no commands");
	expect_one("steps:\n  - name: a\n    commands: []\n", NULL, 3, 15,
	    "step \"a\" has no commands");
	expect_one("steps:\n  - name: a\n    commands: make\n", NULL, 3, 15,
	    "commands must be a list of strings");
	expect_one("steps:\n  - name: a\n    commands:\n      - [make]\n",
	    NULL, 4, 9, "commands must be strings");
	expect_one("steps:\n  - name: a\n    commands: [\"  \"]\n", NULL, 3,
	    16, "empty command");
}
END_TEST

START_TEST(validate_needs)
{
	expect_one("steps:\n  - name: a\n    commands: [x]\n    needs: [a]\n",
	    NULL, 4, 13, "step needs itself");
	expect_one("steps:\n  - {name: a, commands: [x]}\n"
	    "  - {name: b, commands: [x], needs: [a, a]}\n", NULL, 3, 41,
	    "needs: \"a\" is listed twice");
	expect_one("steps:\n  - {name: a, commands: [x], needs: a}\n", NULL,
	    2, 37, "needs must be a list of step names");
}
END_TEST

START_TEST(validate_cycle_names_it)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;

	ck_assert_int_eq(parse_file(&p, &errs, "cycle.yml", NULL),
	    ERR_INVALID);
	ck_assert_ptr_null(p);
	/* a needs c, c needs b, b needs a; at a's "needs: [c]". */
	check_err(&errs, 0, 4, 13, "dependency cycle: a -> c -> b -> a");
	ck_assert_uint_eq(errs.n, 1);
	pipeline_errors_dispose(&errs);

	/* Two disjoint cycles and a step depending on one: two errors. */
	ck_assert_int_eq(parse_str(&p, &errs, "steps:\n"
	    "  - {name: x, commands: [e], needs: [y]}\n"
	    "  - {name: y, commands: [e], needs: [x]}\n"
	    "  - {name: z, commands: [e], needs: [x, w]}\n"
	    "  - {name: w, commands: [e], needs: [z]}\n", NULL), ERR_INVALID);
	check_err(&errs, 0, 2, 38, "dependency cycle: x -> y -> x");
	check_err(&errs, 1, 4, 41, "dependency cycle: z -> w -> z");
	ck_assert_uint_eq(errs.n, 2);
	pipeline_errors_dispose(&errs);
}
END_TEST

START_TEST(validate_top_level)
{
	expect_one("steps:\n  - {name: a, commands: [x]}\nstages: [a]\n",
	    NULL, 3, 1, "unknown key \"stages\"");
	expect_one("steps: {name: a}\n", NULL, 1, 8, "steps must be a list");
	expect_one("steps: []\n", NULL, 1, 8, "pipeline has no steps");
	expect_one("steps:\n", NULL, 1, 7, "pipeline has no steps");
	expect_one("- a\n- b\n", NULL, 1, 1,
	    "pipeline file must be a mapping with a \"steps\" key");
	expect_one("steps:\n  - make\n", NULL, 2, 5,
	    "each step must be a mapping");
}
END_TEST

START_TEST(validate_top_level_together)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;

	ck_assert_int_eq(parse_str(&p, &errs, "image: x\n", NULL),
	    ERR_INVALID);
	check_err(&errs, 0, 1, 1, "unknown key \"image\"");
	check_err(&errs, 1, 1, 1, "pipeline has no steps");
	ck_assert_uint_eq(errs.n, 2);
	pipeline_errors_dispose(&errs);
}
END_TEST

START_TEST(validate_step_keys)
{
	expect_one("steps:\n  - {name: a, commands: [x], deploy: \"true\"}\n",
	    NULL, 2, 38, "deploy must be true or false");
	expect_one("steps:\n  - {name: a, commands: [x], timeout: 25h}\n",
	    NULL, 2, 39, "timeout 25h exceeds the maximum of 24h");
	expect_one("steps:\n  - {name: a, commands: [x], timeout: 0s}\n",
	    NULL, 2, 39, "invalid duration \"0s\" (use e.g. 30s, 5m, 1h)");
	expect_one("steps:\n  - {name: a, commands: [x], "
	    "resources: {gpu: 1}}\n", NULL, 2, 42,
	    "unknown key \"gpu\" in resources (cpu and memory only)");
	expect_one("steps:\n  - {name: a, commands: [x], resources: 1}\n",
	    NULL, 2, 41, "resources must be a mapping with cpu and memory");
	expect_one("steps:\n  - {name: a, commands: [x], image: \"\"}\n",
	    NULL, 2, 37, "invalid image \"\"");
	expect_one("steps:\n  - {name: a, commands: [x], image: \"a b\"}\n",
	    NULL, 2, 37, "invalid image \"a b\"");
}
END_TEST

START_TEST(validate_env)
{
	expect_one("steps:\n  - {name: a, commands: [x], env: {FERRY_X: 1}}\n",
	    NULL, 2, 36,
	    "env name \"FERRY_X\" is reserved (ferry sets CI and FERRY_*)");
	expect_one("steps:\n  - {name: a, commands: [x], env: {A: [1]}}\n",
	    NULL, 2, 39, "env value of \"A\" must be a string");
	expect_one("steps:\n  - {name: a, commands: [x], env: [A]}\n",
	    NULL, 2, 35, "env must be a mapping of names to values");
	expect_one("steps:\n  - {name: a, commands: [x], "
	    "env: {NPM_TOKEN: x}, secrets: [NPM_TOKEN]}\n", &server, 2, 36,
	    "env \"NPM_TOKEN\" clashes with the secret of that name");
}
END_TEST

START_TEST(validate_secrets)
{
	struct pipeline_limits	lim = server;

	expect_one("steps:\n  - {name: a, commands: [x], secrets: [NOPE]}\n",
	    &server, 2, 40,
	    "secret \"NOPE\" is not defined for this repository");
	/* A repo with no secrets at all. */
	lim.secret_names = NULL;
	lim.nsecret_names = 0;
	expect_one("steps:\n  - {name: a, commands: [x], "
	    "secrets: [NPM_TOKEN]}\n", &lim, 2, 40,
	    "secret \"NPM_TOKEN\" is not defined for this repository");
	expect_one("steps:\n  - {name: a, commands: [x], "
	    "secrets: [NPM_TOKEN, NPM_TOKEN]}\n", &server, 2, 51,
	    "secret \"NPM_TOKEN\" is listed twice");
	expect_one("steps:\n  - {name: a, commands: [x], secrets: [CI]}\n",
	    &server, 2, 40,
	    "secret name \"CI\" is reserved (ferry sets CI and FERRY_*)");
}
END_TEST

START_TEST(validate_quota)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;
	struct pipeline_limits	 lim = server;

	ck_assert_int_eq(parse_file(&p, &errs, "quota.yml", &server),
	    ERR_INVALID);
	check_err(&errs, 0, 5, 12,
	    "cpu 8000m exceeds the server's quota of 4000m");
	check_err(&errs, 1, 6, 15,
	    "memory 16Gi exceeds the server's quota of 8Gi");
	ck_assert_uint_eq(errs.n, 2);	/* 500m and 8Gi fit */
	pipeline_errors_dispose(&errs);

	lim.quota_cpu_milli = 0;
	lim.quota_memory = 0;
	ck_assert_int_eq(parse_file(&p, &errs, "quota.yml", &lim), 0);
	ck_assert_int_eq(p->steps[0].cpu_milli, 8000);
	ck_assert_int_eq(p->steps[0].memory, 16LL << 30);
	pipeline_free(p);
	pipeline_errors_dispose(&errs);
}
END_TEST

/* --- yaml: syntax and shapes libyaml decides --------------------------- */

START_TEST(yaml_syntax_error)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;

	ck_assert_int_eq(parse_file(&p, &errs, "syntax.yml", NULL),
	    ERR_INVALID);
	ck_assert_uint_eq(errs.n, 1);
	check_err(&errs, 0, 4, 9, "yaml syntax error: did not find expected "
	    "',' or ']' (while parsing a flow sequence at line 3 column 15)");
	pipeline_errors_dispose(&errs);

	expect_one("steps:\n  - name: a\n   commands: [x]\n", NULL, 3, 4,
	    "yaml syntax error: did not find expected '-' indicator (while "
	    "parsing a block collection at line 2 column 3)");
}
END_TEST

START_TEST(yaml_empty)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;

	ck_assert_int_eq(parse_file(&p, &errs, "empty.yml", NULL),
	    ERR_INVALID);
	check_err(&errs, 0, 1, 1, "pipeline file is empty");
	ck_assert_uint_eq(errs.n, 1);
	ck_assert_str_eq(err_msg(), "1:1: pipeline file is empty");
	pipeline_errors_dispose(&errs);
	expect_one("", NULL, 1, 1, "pipeline file is empty");
	expect_one("---\n...\n", NULL, 1, 1, "pipeline file is empty");
}
END_TEST

START_TEST(yaml_refused_constructs)
{
	expect_one("steps:\n  - &s {name: a, commands: [x]}\n  - *s\n", NULL,
	    2, 5, "yaml anchors are not supported");
	expect_one("steps:\n  - {name: a, commands: [x]}\n---\nsteps: []\n",
	    NULL, 3, 1, "pipeline file must hold a single yaml document");
	expect_one("steps:\n  - {name: a, commands: [\"a\\0b\"]}\n", NULL, 2,
	    26, "strings must not contain NUL bytes");
	expect_one("steps:\n  - {name: a, commands: [\xff]}\n", NULL, 2, 26,
	    "invalid text: invalid leading UTF-8 octet");
}
END_TEST

START_TEST(yaml_deep_nesting)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;
	char			 text[2048];
	size_t			 i, n = 0;

	n += (size_t)snprintf(text, sizeof(text), "steps: ");
	for (i = 0; i < 500; i++)
		text[n++] = '[';
	text[n] = '\0';
	ck_assert_int_eq(parse_str(&p, &errs, text, NULL), ERR_INVALID);
	ck_assert_uint_eq(errs.n, 1);
	/* The outer mapping is level 1: the 32nd '[' is one too many. */
	check_err(&errs, 0, 1, 8 + 31,
	    "yaml nesting is deeper than 32 levels");
	pipeline_errors_dispose(&errs);
}
END_TEST

/* --- limits ------------------------------------------------------------ */

START_TEST(limits_file_size)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;
	size_t			 len = 10 * 1024 * 1024;
	char			*big = xmalloc(len);

	/* Not YAML at all: a parse would report a syntax error instead. */
	memset(big, '\t', len);
	big[0] = '@';
	ck_assert_int_eq(pipeline_parse(&p, &errs, big, len, NULL),
	    ERR_TOOBIG);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(errs.n, 1);
	check_err(&errs, 0, 1, 1, "pipeline file is larger than 64 KiB");
	pipeline_errors_dispose(&errs);
	ck_assert_int_eq(pipeline_parse(&p, &errs, big, 64 * 1024 + 1, NULL),
	    ERR_TOOBIG);
	pipeline_errors_dispose(&errs);
	/* At exactly 64 KiB it is parsed (and is bad YAML). */
	ck_assert_int_eq(pipeline_parse(&p, &errs, big, 64 * 1024, NULL),
	    ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(errs.v[0].msg, "yaml"));
	pipeline_errors_dispose(&errs);
	free(big);
}
END_TEST

START_TEST(limits_steps)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;
	char			*text;

	text = gen_steps(64, 1);
	ck_assert_int_eq(parse_str(&p, &errs, text, NULL), 0);
	ck_assert_uint_eq(p->nsteps, 64);
	pipeline_free(p);
	pipeline_errors_dispose(&errs);
	free(text);

	/* At the 65th step: line 2 + 64 steps of 3 lines. */
	text = gen_steps(65, 1);
	expect_one(text, NULL, 2 + 64 * 3, 5,
	    "too many steps (65; at most 64)");
	free(text);
}
END_TEST

START_TEST(limits_commands)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;
	char			*text;

	text = gen_steps(1, 256);
	ck_assert_int_eq(parse_str(&p, &errs, text, NULL), 0);
	ck_assert_uint_eq(p->steps[0].ncommands, 256);
	ck_assert_str_eq(p->steps[0].commands[255], "echo 255");
	pipeline_free(p);
	pipeline_errors_dispose(&errs);
	free(text);

	/* At the 257th command: it is on line 4 + 256. */
	text = gen_steps(1, 257);
	expect_one(text, NULL, 4 + 256, 9,
	    "too many commands in step \"s0\" (257; at most 256)");
	free(text);
}
END_TEST

START_TEST(limits_error_count)
{
	struct pipeline		*p;
	struct pipeline_errors	 errs;
	struct buf		 b;
	char			*text;
	size_t			 i;

	buf_init(&b, 1 << 20);
	buf_puts(&b, "steps:\n");
	for (i = 0; i < 100; i++)
		buf_printf(&b, "  - {name: A%zu, commands: [x]}\n", i);
	text = buf_steal(&b);
	ck_assert_int_eq(parse_str(&p, &errs, text, NULL), ERR_INVALID);
	/* Found first, the limit is kept; then names until the cap. */
	ck_assert_uint_eq(errs.n, PIPELINE_MAX_ERRORS);
	check_err(&errs, 0, 2, 12, "step name \"A0\" must be a DNS-1123 "
	    "label (lower case letters, digits and '-', at most 40 "
	    "characters)");
	ck_assert_int_eq(errs.v[48].line, 50);
	check_err(&errs, 49, 66, 5, "too many steps (100; at most 64)");
	pipeline_errors_dispose(&errs);
	/* errs may be NULL: the first error is still in err_msg(). */
	ck_assert_int_eq(parse_str(&p, NULL, text, NULL), ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(err_msg(), "2:12: step name \"A0\""));
	free(text);
}
END_TEST

/* --- quantities -------------------------------------------------------- */

START_TEST(quantity_cpu)
{
	static const struct {
		const char	*s;
		int64_t		 milli;
	} ok[] = {
		{ "250m", 250 }, { "1", 1000 }, { "0.5", 500 }, { "2", 2000 },
		{ "1.25", 1250 }, { "0.001", 1 }, { "1.5000", 1500 },
		{ "4000m", 4000 },
	};
	static const char *const bad[] = {
		"", "abc", "0", "0m", "1.5m", "0.0005", "-1", "1e3", "1 ", "m",
		".5", "2.", "1k", "99999999999999999999",
	};
	int64_t	v;
	size_t	i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(pipeline_cpu_parse(&v, ok[i].s) == 0, "%s",
		    ok[i].s);
		ck_assert_int_eq(v, ok[i].milli);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(pipeline_cpu_parse(&v, bad[i]) == ERR_INVALID,
		    "%s", bad[i]);
	ck_assert_str_eq(err_msg(), "invalid cpu quantity "
	    "\"99999999999999999999\"");
}
END_TEST

START_TEST(quantity_memory)
{
	static const struct {
		const char	*s;
		int64_t		 bytes;
	} ok[] = {
		{ "128Mi", 128LL << 20 }, { "1Gi", 1LL << 30 },
		{ "512Ki", 512LL << 10 }, { "1000000", 1000000 },
		{ "1G", 1000000000 }, { "1M", 1000000 }, { "1k", 1000 },
		{ "1.5Gi", 3LL << 29 }, { "0.3k", 300 }, { "1.1Ki", 1127 },
		{ "7Ei", 7LL << 60 },
	};
	static const char *const bad[] = {
		"", "12Q", "1K", "1Mb", "Mi", "-1", "0", "1.", "8Ei", "1 Mi",
		"0.0000000001Gi",
	};
	int64_t	v;
	size_t	i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(pipeline_memory_parse(&v, ok[i].s) == 0, "%s",
		    ok[i].s);
		ck_assert_int_eq(v, ok[i].bytes);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(pipeline_memory_parse(&v, bad[i]) ==
		    ERR_INVALID, "%s", bad[i]);
	ck_assert_int_eq(pipeline_memory_parse(&v, "12Q"), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "invalid memory quantity \"12Q\"");
}
END_TEST

START_TEST(quantity_format)
{
	char	s[32];

	pipeline_cpu_format(s, sizeof(s), 250);
	ck_assert_str_eq(s, "250m");
	pipeline_cpu_format(s, sizeof(s), 4000);
	ck_assert_str_eq(s, "4");
	pipeline_memory_format(s, sizeof(s), 128LL << 20);
	ck_assert_str_eq(s, "128Mi");
	pipeline_memory_format(s, sizeof(s), 3LL << 29);
	ck_assert_str_eq(s, "1536Mi");
	pipeline_memory_format(s, sizeof(s), 1000000000);
	ck_assert_str_eq(s, "1G");
	pipeline_memory_format(s, sizeof(s), 1127);
	ck_assert_str_eq(s, "1127");
}
END_TEST

/* --- planning ---------------------------------------------------------- */

START_TEST(plan_step_index)
{
	struct pipeline	*p = must_parse_file("diamond.yml", NULL);

	ck_assert_int_eq(pipeline_step_index(p, "a"), 0);
	ck_assert_int_eq(pipeline_step_index(p, "d"), 3);
	ck_assert_int_eq(pipeline_step_index(p, "e"), -1);
	pipeline_free(p);
}
END_TEST

START_TEST(plan_order)
{
	struct pipeline	*p;
	size_t		 order[4], i;

	p = must_parse_file("sequential.yml", NULL);
	ck_assert_int_eq(pipeline_order(order, p), 0);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(order[i], i);
	pipeline_free(p);

	/* File order among ready steps, whatever the needs order says. */
	ck_assert_int_eq(parse_str(&p, NULL, "steps:\n"
	    "  - {name: d, commands: [x], needs: [c, b]}\n"
	    "  - {name: c, commands: [x], needs: [a]}\n"
	    "  - {name: b, commands: [x], needs: [a]}\n"
	    "  - {name: a, commands: [x]}\n", NULL), 0);
	ck_assert_int_eq(pipeline_order(order, p), 0);
	ck_assert_uint_eq(order[0], 3);
	ck_assert_uint_eq(order[1], 1);
	ck_assert_uint_eq(order[2], 2);
	ck_assert_uint_eq(order[3], 0);
	pipeline_free(p);
}
END_TEST

START_TEST(plan_order_cycle)
{
	struct pipeline		 p;
	struct pipeline_step	 st[3];
	size_t			 n0[] = { 1 }, n1[] = { 2 }, n2[] = { 1 };
	size_t			 order[3];

	/* Built by hand: parse would refuse it. a -> b -> c -> b. */
	memset(st, 0, sizeof(st));
	st[0].name = "a";
	st[0].needs_idx = n0;
	st[0].nneeds = 1;
	st[1].name = "b";
	st[1].needs_idx = n1;
	st[1].nneeds = 1;
	st[2].name = "c";
	st[2].needs_idx = n2;
	st[2].nneeds = 1;
	p.steps = st;
	p.nsteps = 3;
	p.dag = true;
	ck_assert_int_eq(pipeline_order(order, &p), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "dependency cycle: b -> c -> b");
}
END_TEST

START_TEST(plan_runnable_diamond)
{
	struct pipeline		*p = must_parse_file("diamond.yml",
				    NULL);
	enum pipeline_state	 st[4] = { PIPELINE_PENDING,
				    PIPELINE_PENDING, PIPELINE_PENDING,
				    PIPELINE_PENDING };
	bool			 run[4], skip[4];

	pipeline_runnable(run, p, st);
	ck_assert(run[0] && !run[1] && !run[2] && !run[3]);
	st[0] = PIPELINE_RUNNING;
	pipeline_runnable(run, p, st);
	ck_assert(!run[0] && !run[1] && !run[2] && !run[3]);
	st[0] = PIPELINE_DONE_OK;
	pipeline_runnable(run, p, st);
	ck_assert(!run[0] && run[1] && run[2] && !run[3]);
	st[1] = PIPELINE_DONE_OK;
	st[2] = PIPELINE_RUNNING;
	pipeline_runnable(run, p, st);
	ck_assert(!run[0] && !run[1] && !run[2] && !run[3]);
	st[2] = PIPELINE_DONE_OK;
	pipeline_runnable(run, p, st);
	ck_assert(!run[0] && !run[1] && !run[2] && run[3]);
	pipeline_skip_after_failure(skip, p, st);
	ck_assert(!skip[0] && !skip[1] && !skip[2] && !skip[3]);
	pipeline_free(p);
}
END_TEST

START_TEST(plan_failure_skips_dependents)
{
	struct pipeline		*p = must_parse_file("diamond.yml",
				    NULL);
	enum pipeline_state	 st[4] = { PIPELINE_DONE_OK,
				    PIPELINE_DONE_FAIL, PIPELINE_PENDING,
				    PIPELINE_PENDING };
	bool			 run[4], skip[4];

	/* b failed: only d is doomed; c still runs. */
	pipeline_skip_after_failure(skip, p, st);
	ck_assert(!skip[0] && !skip[1] && !skip[2] && skip[3]);
	pipeline_runnable(run, p, st);
	ck_assert(!run[0] && !run[1] && run[2] && !run[3]);
	/* A skipped step dooms its dependents like a failed one. */
	st[1] = PIPELINE_SKIPPED;
	pipeline_skip_after_failure(skip, p, st);
	ck_assert(!skip[2] && skip[3]);
	pipeline_free(p);

	/* Sequential: a failure dooms every later step, transitively. */
	p = must_parse_file("sequential.yml", NULL);
	st[0] = PIPELINE_DONE_FAIL;
	st[1] = st[2] = st[3] = PIPELINE_PENDING;
	pipeline_skip_after_failure(skip, p, st);
	ck_assert(!skip[0] && skip[1] && skip[2] && skip[3]);
	pipeline_runnable(run, p, st);
	ck_assert(!run[0] && !run[1] && !run[2] && !run[3]);
	pipeline_free(p);
}
END_TEST

START_TEST(plan_format)
{
	struct pipeline	*p;
	char		*s;

	p = must_parse_file("sequential.yml", NULL);
	ck_assert_int_eq(pipeline_plan_format(&s, p), 0);
	ck_assert_str_eq(s, "1. build\n2. test\n3. lint\n4. package\n");
	free(s);
	pipeline_free(p);

	p = must_parse_file("diamond.yml", NULL);
	ck_assert_int_eq(pipeline_plan_format(&s, p), 0);
	ck_assert_str_eq(s, "1. a\n2. b, c (parallel)\n3. d [deploy]\n");
	free(s);
	pipeline_free(p);

	p = must_parse_file("full.yml", &server);
	ck_assert_int_eq(pipeline_plan_format(&s, p), 0);
	ck_assert_str_eq(s, "1. build\n2. test\n3. deploy [deploy]\n");
	free(s);
	pipeline_free(p);
}
END_TEST

Suite *
test_suite(void)
{
	Suite	*s = suite_create("pipeline");
	TCase	*tc;

	tc = tcase_create("parse");
	tcase_add_test(tc, parse_full_example);
	tcase_add_test(tc, parse_sequential_default);
	tcase_add_test(tc, parse_dag_without_needs_is_independent);
	tcase_add_test(tc, parse_scalars_and_defaults);
	tcase_add_test(tc, parse_secrets_unchecked_without_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("validate");
	tcase_add_test(tc, validate_many_errors_in_file_order);
	tcase_add_test(tc, validate_names);
	tcase_add_test(tc, validate_commands);
	tcase_add_test(tc, validate_needs);
	tcase_add_test(tc, validate_cycle_names_it);
	tcase_add_test(tc, validate_top_level);
	tcase_add_test(tc, validate_top_level_together);
	tcase_add_test(tc, validate_step_keys);
	tcase_add_test(tc, validate_env);
	tcase_add_test(tc, validate_secrets);
	tcase_add_test(tc, validate_quota);
	suite_add_tcase(s, tc);

	tc = tcase_create("yaml");
	tcase_add_test(tc, yaml_syntax_error);
	tcase_add_test(tc, yaml_empty);
	tcase_add_test(tc, yaml_refused_constructs);
	tcase_add_test(tc, yaml_deep_nesting);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_test(tc, limits_file_size);
	tcase_add_test(tc, limits_steps);
	tcase_add_test(tc, limits_commands);
	tcase_add_test(tc, limits_error_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("quantity");
	tcase_add_test(tc, quantity_cpu);
	tcase_add_test(tc, quantity_memory);
	tcase_add_test(tc, quantity_format);
	suite_add_tcase(s, tc);

	tc = tcase_create("plan");
	tcase_add_test(tc, plan_step_index);
	tcase_add_test(tc, plan_order);
	tcase_add_test(tc, plan_order_cycle);
	tcase_add_test(tc, plan_runnable_diamond);
	tcase_add_test(tc, plan_failure_skips_dependents);
	tcase_add_test(tc, plan_format);
	suite_add_tcase(s, tc);
	return s;
}
