/*
 * err.h - ferry's one error convention.
 *
 * A function that can fail returns int: 0, or a negative enum err after
 * recording a one-line message for the calling thread with err_set().
 * Any thread may call these; the message lives in thread-local storage.
 */
#ifndef FERRY_ERR_H
#define FERRY_ERR_H

#define PRINTFLIKE(f, a)	__attribute__((format(printf, f, a)))
#define NORETURN		__attribute__((noreturn))
#define UNUSED			__attribute__((unused))

enum err {
	ERR_FAIL	= -1,	/* unexpected; the message says why */
	ERR_INVALID	= -2,	/* bad input: payload, config, YAML */
	ERR_AUTH	= -3,	/* signature, token or bearer rejected */
	ERR_NOTFOUND	= -4,
	ERR_EXISTS	= -5,	/* duplicate delivery, unique key */
	ERR_TOOBIG	= -6,	/* a bounded buffer hit its ceiling */
	ERR_BUSY	= -7,	/* database locked past its timeout */
	ERR_UPSTREAM	= -8,	/* Git, forge or cluster failed */
};

/* Records a message for this thread and returns code. */
int		 err_set(int code, const char *fmt, ...) PRINTFLIKE(2, 3);
/* This thread's last message ("" if none); valid until the next err_set. */
const char	*err_msg(void);
/* Forgets this thread's message. */
void		 err_clear(void);
/* Short name of a code: "invalid", "not_found", ... (for logs). */
const char	*err_name(int code);

/* Bugs, not errors: always compiled in, logs file:line and aborts. */
void		 assert_fail(const char *expr, const char *file, int line)
		    NORETURN;
#define ASSERT(c)	((c) ? (void)0 : assert_fail(#c, __FILE__, __LINE__))

#endif
