/*
 * store_int.h - private to src/store/: the migrations embedded at build
 * time by embed_migrations.py (migrations.c in the build directory).
 */
#ifndef FERRY_STORE_INT_H
#define FERRY_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store_migration {
	int		 number;	/* NNNN of migrations/NNNN_name.sql */
	const char	*name;		/* "init" */
	const char	*sql;		/* the file's text */
};

/* In number order, numbered 1..store_nmigrations without gaps. */
extern const struct store_migration	store_migrations[];
extern const size_t			store_nmigrations;

/*
 * store.c's helpers, shared with the store's other files (outbox.c):
 * see their definitions in store.c. The caller includes <sqlite3.h>.
 */
struct store;
struct run;
struct sqlite3_stmt;

void	 store_owned(struct store *st);	/* asserts the owner thread */
/* Makes this thread st's owner: st is idle and handed over (group.c). */
void	 store_adopt(struct store *st);
int	 store_err(struct store *st, int rc);
int	 stmt_get(struct sqlite3_stmt **out, struct store *st,
	    const char *sql);
void	 stmt_done(struct sqlite3_stmt *s);
int	 stmt_exec(struct store *st, struct sqlite3_stmt *s);
int	 stmt_int64(int64_t *out, bool *found_out, struct store *st,
	    struct sqlite3_stmt *s);
void	 bind_text(struct sqlite3_stmt *s, int i, const char *v);
void	 bind_int64(struct sqlite3_stmt *s, int i, int64_t v);
char	*col_strdup(struct sqlite3_stmt *s, int i);
int64_t	 col_time(struct sqlite3_stmt *s, int i);
int	 tx_begin(struct store *st);
int	 tx_commit(struct store *st);
void	 tx_rollback(struct store *st);
int	 store_enqueue_tx(int64_t *id_out, struct store *st,
	    const struct run *r, int64_t now);

#endif
