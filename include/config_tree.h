/* config_tree.h - the config loader's insides, shared by its two halves:
 * config_tree.c (YAML into a tree that remembers where each node came from,
 * the user's tree merged over the default's, the collected errors) and
 * config.c (the tree validated into struct config, the hash). Not for the
 * rest of meshinject: config.h is the loader's interface. */
#ifndef MESHINJECT_CONFIG_TREE_H
#define MESHINJECT_CONFIG_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define CONFIG_MAX_DEPTH	32		/* nesting of maps and lists */
#define CONFIG_MAX_NODES	100000
#define CONFIG_MAX_ERRORS	100		/* then "too many errors" */
#define QUOTE_MAX		80		/* bytes of a value quoted back */
#define PATH_MAX_LEN		512

enum node_type {
	NODE_NULL,	/* plain "", "~", "null": the key is there, unset */
	NODE_SCALAR,
	NODE_SEQ,
	NODE_MAP
};

struct node {
	enum node_type type;
	bool quoted;		/* quoted or !!str: never a number or bool */
	int line;		/* 1-based, of the value */
	const char *src;	/* file name for messages (owned by the loader) */
	char *key;		/* key in the parent map, else NULL */
	int key_line;
	char *value;		/* scalar text (also kept for NODE_NULL) */
	struct node **kids;	/* list items or map entries, in file order */
	size_t n;
	size_t cap;
};

struct error {
	char *msg;
	int user;	/* 0 for the file being loaded, 1 for the default */
	int line;	/* 0 for errors about the whole file */
	size_t seq;
};

struct loader {
	const char *name;	/* the file being loaded, for messages */
	struct error *errs;
	size_t n_errs;
	size_t cap_errs;
	bool too_many;
	bool oom;
	size_t n_nodes;
};

#define QBUF char qb[QUOTE_MAX * 4 + 8]
#define Q(s) config_quote((s), qb, sizeof(qb))

/* Free n and everything below it; NULL is a no-op. */
void config_node_free(struct node *n);
/* Append kid to parent's kids (parent owns it then); -1 when memory runs
 * out (kid is still the caller's). */
int config_node_append(struct node *parent, struct node *kid);
/* The entry `key` of a map (borrowed), or NULL. */
struct node *config_map_get(const struct node *map, const char *key);

/* Errors are collected in the loader, then handed over in file order. */
void config_loader_oom(struct loader *ld);
void config_add_error(struct loader *ld, const char *src, int line,
    const char *path, const char *reason);
void config_report_at(struct loader *ld, const char *src, int line,
    const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* A problem with the value of node `n` at `path`. */
void config_report(struct loader *ld, const struct node *n, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Hand the collected messages over to errs (NULL: drop them), in file
 * order, and empty the loader's list. */
void config_loader_finish(struct loader *ld, struct config_errors *errs);

/* `s` in double quotes for a message: escaped, cut after QUOTE_MAX bytes
 * (on a UTF-8 boundary). buf needs QUOTE_MAX * 4 + 8 bytes (QBUF). */
const char *config_quote(const char *s, char *buf, size_t size);
/* Append ".key" (or "key" at the top) to a dotted path; out may be prefix. */
void config_path_join(char *out, size_t size, const char *prefix,
    const char *key);

/* Parse one YAML document into a tree. Returns the root (an empty map for
 * an empty document), or NULL with the problem reported. */
struct node *config_tree_parse(struct loader *ld, const char *src,
    const char *text, size_t len);
/* Merge `user` into `def` in place, stealing the user's nodes (0, or -1
 * when memory runs out). */
int config_tree_merge(struct node *def, struct node *user, int level,
    bool stages);

#endif
