/*
 * DESIGN
 *
 * libyaml's event parser, not its document loader: the loader expands
 * aliases into shared nodes (a few lines of anchors make an exponential
 * tree) and keeps no per-node style we can trust. Building our own tree
 * from events lets us refuse anchors and aliases where they appear, keep
 * each node's position for error messages, bound the nesting depth and
 * free the tree without recursion surprises. The input is at most
 * PIPELINE_MAX_FILE bytes, so the tree is small.
 */
#include "pipeline_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "pipeline.h"
#include "util.h"

#define PNODE_MAX_DEPTH	32	/* the schema needs 5 */

void
pipeline_errors_add(struct pipeline_errors *errs, int line, int col,
    const char *fmt, ...)
{
	struct pipeline_error	*e;
	va_list			 ap;
	char			 msg[4096];	/* a 64-step cycle */

	if (errs == NULL || errs->n >= PIPELINE_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);	/* truncation: harmless */
	va_end(ap);
	errs->v = xreallocarray(errs->v, errs->n + 1, sizeof(*errs->v));
	e = &errs->v[errs->n++];
	e->line = line;
	e->col = col;
	e->msg = xstrdup(msg);
}

void
pnode_free(struct pnode *n)
{
	size_t	i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		pnode_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

bool
pnode_is_null(const struct pnode *n)
{
	if (n == NULL)
		return true;
	if (n->type != PNODE_SCALAR || !n->plain)
		return false;
	return *n->str == '\0' || strcmp(n->str, "~") == 0 ||
	    strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
	    strcmp(n->str, "NULL") == 0;
}

static int
mark_line(const yaml_mark_t *m)
{
	return m->line >= INT32_MAX ? INT32_MAX : (int)m->line + 1;
}

static int
mark_col(const yaml_mark_t *m)
{
	return m->column >= INT32_MAX ? INT32_MAX : (int)m->column + 1;
}

static struct pnode *
pnode_new(enum pnode_type type, const yaml_mark_t *m)
{
	struct pnode	*n = xcalloc(1, sizeof(*n));

	n->type = type;
	n->line = mark_line(m);
	n->col = mark_col(m);
	return n;
}

static void
pnode_append(struct pnode *parent, struct pnode *kid)
{
	parent->kids = xreallocarray(parent->kids, parent->nkids + 1,
	    sizeof(*parent->kids));
	parent->kids[parent->nkids++] = kid;
}

/* A reader error has only a byte offset: count lines up to it. */
static void
offset_position(int *line, int *col, const char *text, size_t len,
    size_t off)
{
	size_t	i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80)
			(*col)++;
	}
}

static void
syntax_error(struct pipeline_errors *errs, const yaml_parser_t *ps,
    const char *text, size_t len)
{
	const char	*problem = ps->problem ? ps->problem : "unknown";
	int		 line, col;

	switch (ps->error) {
	case YAML_READER_ERROR:
		offset_position(&line, &col, text, len, ps->problem_offset);
		pipeline_errors_add(errs, line, col, "invalid text: %s",
		    problem);
		break;
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (ps->context != NULL) {
			pipeline_errors_add(errs, mark_line(&ps->problem_mark),
			    mark_col(&ps->problem_mark),
			    "yaml syntax error: %s (%s at line %d column %d)",
			    problem, ps->context, mark_line(&ps->context_mark),
			    mark_col(&ps->context_mark));
		} else {
			pipeline_errors_add(errs, mark_line(&ps->problem_mark),
			    mark_col(&ps->problem_mark),
			    "yaml syntax error: %s", problem);
		}
		break;
	default:
		pipeline_errors_add(errs, 1, 1, "yaml error: %s", problem);
		break;
	}
}

int
pnode_load(struct pnode **out, struct pipeline_errors *errs,
    const char *text, size_t len)
{
	yaml_parser_t	 ps;
	yaml_event_t	 ev;
	struct pnode	*stack[PNODE_MAX_DEPTH];
	struct pnode	*root = NULL, *n;
	size_t		 depth = 0, ndocs = 0;
	int		 rc = ERR_INVALID, done = 0;

	*out = NULL;
	if (!yaml_parser_initialize(&ps))
		return err_set(ERR_FAIL, "cannot initialise libyaml");
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&ps, &ev)) {
			syntax_error(errs, &ps, text, len);
			goto out;
		}
		n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1) {
				pipeline_errors_add(errs,
				    mark_line(&ev.start_mark),
				    mark_col(&ev.start_mark), "pipeline file "
				    "must hold a single yaml document");
				yaml_event_delete(&ev);
				goto out;
			}
			break;
		case YAML_ALIAS_EVENT:
			pipeline_errors_add(errs, mark_line(&ev.start_mark),
			    mark_col(&ev.start_mark),
			    "yaml aliases are not supported");
			yaml_event_delete(&ev);
			goto out;
		case YAML_SCALAR_EVENT:
			n = pnode_new(PNODE_SCALAR, &ev.start_mark);
			if (memchr(ev.data.scalar.value, '\0',
			    ev.data.scalar.length) != NULL) {
				pipeline_errors_add(errs, n->line, n->col,
				    "strings must not contain NUL bytes");
				pnode_free(n);
				yaml_event_delete(&ev);
				goto out;
			}
			n->str = xstrndup((const char *)ev.data.scalar.value,
			    ev.data.scalar.length);
			n->plain = ev.data.scalar.style ==
			    YAML_PLAIN_SCALAR_STYLE;
			break;
		case YAML_SEQUENCE_START_EVENT:
			n = pnode_new(PNODE_SEQ, &ev.start_mark);
			break;
		case YAML_MAPPING_START_EVENT:
			n = pnode_new(PNODE_MAP, &ev.start_mark);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			ASSERT(depth > 0);
			depth--;
			break;
		default:
			break;
		}
		if (n != NULL && ((ev.type == YAML_SCALAR_EVENT &&
		    ev.data.scalar.anchor != NULL) ||
		    (ev.type == YAML_SEQUENCE_START_EVENT &&
		    ev.data.sequence_start.anchor != NULL) ||
		    (ev.type == YAML_MAPPING_START_EVENT &&
		    ev.data.mapping_start.anchor != NULL))) {
			pipeline_errors_add(errs, n->line, n->col,
			    "yaml anchors are not supported");
			pnode_free(n);
			yaml_event_delete(&ev);
			goto out;
		}
		yaml_event_delete(&ev);
		if (n == NULL)
			continue;
		/* Attach first, so the tree owns n whatever follows. */
		if (depth == 0) {
			ASSERT(root == NULL);
			root = n;
		} else
			pnode_append(stack[depth - 1], n);
		if (n->type == PNODE_SCALAR)
			continue;
		if (depth == PNODE_MAX_DEPTH) {
			pipeline_errors_add(errs, n->line, n->col,
			    "yaml nesting is deeper than %d levels",
			    PNODE_MAX_DEPTH);
			goto out;
		}
		stack[depth++] = n;
	}
	if (root != NULL && pnode_is_null(root)) {
		pnode_free(root);
		root = NULL;
	}
	*out = root;
	root = NULL;
	rc = 0;
out:
	pnode_free(root);
	yaml_parser_delete(&ps);
	return rc;
}
