/*
 * pipeline_int.h - shared inside src/pipeline/ only: the small YAML node
 * tree tree.c builds from libyaml's events, and the error list helpers.
 */
#ifndef FERRY_PIPELINE_INT_H
#define FERRY_PIPELINE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct pipeline_errors;

enum pnode_type {
	PNODE_SCALAR,
	PNODE_SEQ,
	PNODE_MAP,
};

/* One YAML node; the tree owns its children. */
struct pnode {
	enum pnode_type	 type;
	char		*str;		/* scalar text, else NULL */
	bool		 plain;		/* an unquoted scalar */
	int		 line;		/* 1-based start of the node */
	int		 col;
	struct pnode	**kids;		/* map: key, value, ... */
	size_t		 nkids;		/* map: twice the pairs */
};

/*
 * Builds the tree of the single document in text. *out is NULL for an
 * empty document (nothing but comments or a null). Syntax errors, and
 * anchors, aliases, several documents or too deep nesting, go to errs;
 * returns ERR_INVALID then. *out is the caller's (pnode_free).
 */
int	 pnode_load(struct pnode **out, struct pipeline_errors *errs,
	    const char *text, size_t len);
void	 pnode_free(struct pnode *n);
/* A plain scalar that YAML reads as null: "", "~", "null". */
bool	 pnode_is_null(const struct pnode *n);

/* Appends an error unless PIPELINE_MAX_ERRORS are kept already. */
void	 pipeline_errors_add(struct pipeline_errors *errs, int line,
	    int col, const char *fmt, ...) PRINTFLIKE(4, 5);

struct pipeline;

/*
 * Kahn's algorithm over needs_idx, lowest index first among ready steps.
 * order_out receives the steps it could sort, sorted_out[i] whether step
 * i was sorted (both p->nsteps entries). Returns how many were sorted:
 * fewer than p->nsteps means a cycle.
 */
size_t	 pipeline_toposort(size_t *order_out, bool *sorted_out,
	    const struct pipeline *p);
/*
 * After pipeline_toposort(), with done initially its sorted_out: finds
 * the next cycle not sharing a step with those found before, writes it to
 * cycle_out (cycle_out[0] needs cycle_out[1] ... the last needs
 * cycle_out[0]; cycle_out[0] the lowest index) and returns its length, or
 * 0 when there is none left. Updates done.
 */
size_t	 pipeline_cycle_next(size_t *cycle_out, bool *done,
	    const struct pipeline *p);

#endif
