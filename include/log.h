/*
 * log.h - one line per event on stderr:
 *   2026-11-26T12:00:00.123Z info runner: run=42 repo=acme/shop failed
 *
 * Each .c defines LOG_MODULE (a string) before including this header.
 * Thread-safe: a line is written with one write(2). Never pass secrets,
 * tokens, Authorization headers or request bodies.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include "err.h"

enum log_level {
	LOGL_DEBUG,
	LOGL_INFO,
	LOGL_WARN,
	LOGL_ERROR,
};

/* Lines below min are dropped. Call before threads start. */
void	 log_set_level(enum log_level min);
/* Parses "debug", "info", "warn", "error"; -1 if unknown. */
int	 log_level_parse(const char *s);
void	 log_write(enum log_level lvl, const char *module, int with_errno,
	    const char *fmt, ...) PRINTFLIKE(4, 5);
void	 log_fatal(const char *module, int with_errno, const char *fmt, ...)
	    PRINTFLIKE(3, 4) NORETURN;

#ifndef LOG_MODULE
#error "define LOG_MODULE before including log.h"
#endif

#define log_debug(...)	log_write(LOGL_DEBUG, LOG_MODULE, 0, __VA_ARGS__)
#define log_info(...)	log_write(LOGL_INFO, LOG_MODULE, 0, __VA_ARGS__)
/* log_warn appends ": strerror(errno)". */
#define log_warn(...)	log_write(LOGL_WARN, LOG_MODULE, 1, __VA_ARGS__)
#define log_warnx(...)	log_write(LOGL_WARN, LOG_MODULE, 0, __VA_ARGS__)
#define log_error(...)	log_write(LOGL_ERROR, LOG_MODULE, 0, __VA_ARGS__)
#define fatal(...)	log_fatal(LOG_MODULE, 1, __VA_ARGS__)
#define fatalx(...)	log_fatal(LOG_MODULE, 0, __VA_ARGS__)

#endif
