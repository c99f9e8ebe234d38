/*
 * store_int.h - private to src/store/: the migrations embedded at build
 * time by embed_migrations.py (migrations.c in the build directory).
 */
#ifndef FERRY_STORE_INT_H
#define FERRY_STORE_INT_H

#include <stddef.h>

struct store_migration {
	int		 number;	/* NNNN of migrations/NNNN_name.sql */
	const char	*name;		/* "init" */
	const char	*sql;		/* the file's text */
};

/* In number order, numbered 1..store_nmigrations without gaps. */
extern const struct store_migration	store_migrations[];
extern const size_t			store_nmigrations;

#endif
