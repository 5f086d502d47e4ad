/* config_tree.c - the first half of the config loader: YAML (libyaml
 * events) into a small tree that remembers where each node came from, the
 * user's tree merged over the embedded default's, and every problem
 * collected as "file:line: key: reason" (config.c validates the tree). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config_tree.h"

/* ---- the tree ---- */

void
config_node_free(struct node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++)
		config_node_free(n->kids[i]);
	free(n->kids);
	free(n->key);
	free(n->value);
	free(n);
}

int
config_node_append(struct node *parent, struct node *kid)
{
	struct node **k;
	size_t cap;

	if (parent->n == parent->cap) {
		cap = parent->cap ? parent->cap * 2 : 4;
		k = realloc(parent->kids, cap * sizeof(*k));
		if (k == NULL)
			return -1;
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

/* The entry `key` of a map (borrowed), or NULL. */
struct node *
config_map_get(const struct node *map, const char *key)
{
	size_t i;

	if (map == NULL || map->type != NODE_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (map->kids[i] != NULL && strcmp(map->kids[i]->key, key) == 0)
			return map->kids[i];
	return NULL;
}

/* ---- errors ---- */

void
config_loader_oom(struct loader *ld)
{
	ld->oom = true;
}

void
config_add_error(struct loader *ld, const char *src, int line, const char *path,
    const char *reason)
{
	struct error *e;
	char *msg;
	size_t cap;
	int len;

	if (ld->n_errs >= CONFIG_MAX_ERRORS) {
		ld->too_many = true;
		return;
	}
	if (ld->n_errs == ld->cap_errs) {
		cap = ld->cap_errs ? ld->cap_errs * 2 : 8;
		e = realloc(ld->errs, cap * sizeof(*e));
		if (e == NULL) {
			config_loader_oom(ld);
			return;
		}
		ld->errs = e;
		ld->cap_errs = cap;
	}
	if (src == NULL)
		src = ld->name;
	if (line > 0 && path != NULL && path[0] != '\0')
		len = asprintf(&msg, "%s:%d: %s: %s", src, line, path, reason);
	else if (line > 0)
		len = asprintf(&msg, "%s:%d: %s", src, line, reason);
	else
		len = asprintf(&msg, "%s: %s", src, reason);
	if (len < 0) {
		config_loader_oom(ld);
		return;
	}
	e = &ld->errs[ld->n_errs];
	e->msg = msg;
	e->user = strcmp(src, ld->name) == 0 ? 0 : 1;
	e->line = line;
	e->seq = ld->n_errs;
	ld->n_errs++;
}

void
config_report_at(struct loader *ld, const char *src, int line, const char *path,
    const char *fmt, ...)
{
	char reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	config_add_error(ld, src, line, path, reason);
}

/* Report a problem with the value of node `n` at `path`. */
void
config_report(struct loader *ld, const struct node *n, const char *path,
    const char *fmt, ...)
{
	char reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	config_add_error(ld, n->src, n->line, path, reason);
}

static int
error_cmp(const void *a, const void *b)
{
	const struct error *x = a, *y = b;

	if (x->user != y->user)
		return x->user - y->user;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Hand the collected messages over to errs, in file order. */
void
config_loader_finish(struct loader *ld, struct config_errors *errs)
{
	char **msgs;
	size_t i, extra;

	if (ld->oom)
		config_add_error(ld, ld->name, 0, NULL, "out of memory");
	qsort(ld->errs, ld->n_errs, sizeof(*ld->errs), error_cmp);
	extra = ld->too_many ? 1 : 0;
	if (errs != NULL && ld->n_errs + extra > 0) {
		msgs = realloc(errs->msgs,
		    (errs->count + ld->n_errs + extra) * sizeof(*msgs));
		if (msgs != NULL) {
			errs->msgs = msgs;
			for (i = 0; i < ld->n_errs; i++) {
				msgs[errs->count++] = ld->errs[i].msg;
				ld->errs[i].msg = NULL;
			}
			if (ld->too_many && asprintf(&msgs[errs->count],
			    "%s: too many errors, stopped after %d",
			    ld->name, CONFIG_MAX_ERRORS) >= 0)
				errs->count++;
		}
	}
	for (i = 0; i < ld->n_errs; i++)
		free(ld->errs[i].msg);
	free(ld->errs);
	ld->errs = NULL;
	ld->n_errs = ld->cap_errs = 0;
}

void
config_errors_clear(struct config_errors *errs)
{
	size_t i;

	if (errs == NULL)
		return;
	for (i = 0; i < errs->count; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->count = 0;
}

/* `s` in double quotes for a message: escaped, cut after QUOTE_MAX bytes
 * (on a UTF-8 boundary). buf needs QUOTE_MAX * 4 + 8 bytes. */
const char *
config_quote(const char *s, char *buf, size_t size)
{
	size_t i, o = 0;
	unsigned char c;

	if (size < QUOTE_MAX * 4 + 8)
		return "\"?\"";
	buf[o++] = '"';
	for (i = 0; s[i] != '\0'; i++) {
		c = (unsigned char)s[i];
		if ((i >= QUOTE_MAX && (c & 0xc0) != 0x80) || o + 9 > size) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* Append ".key" (or "key" at the top) to a dotted path. */
void
config_path_join(char *out, size_t size, const char *prefix, const char *key)
{
	size_t o = 0, plen, klen;

	if (size == 0)
		return;
	plen = prefix != NULL ? strlen(prefix) : 0;
	klen = strlen(key);
	/* out may be prefix: move it first, then append (cut at size) */
	if (plen > size - 1)
		plen = size - 1;
	if (prefix != NULL && prefix != out)
		memmove(out, prefix, plen);
	o = plen;
	if (plen > 0 && o < size - 1)
		out[o++] = '.';
	if (klen > size - 1 - o)
		klen = size - 1 - o;
	memcpy(out + o, key, klen);
	out[o + klen] = '\0';
}

/* ---- YAML to tree ---- */

static bool
plain_null(const char *v)
{
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	    strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

struct parse_level {
	struct node *node;
	char *key;		/* a map's key waiting for its value */
	int key_line;
};

/* The dotted path of the map at lv[depth - 1]; with `pending`, plus the key
 * waiting there for its value (the path of the node being read). */
static void
parse_path(const struct parse_level *lv, size_t depth, bool pending,
    char *out, size_t size)
{
	size_t i;

	out[0] = '\0';
	for (i = 1; i < depth; i++)
		if (lv[i].node->key != NULL)	/* else a list item */
			config_path_join(out, size, out, lv[i].node->key);
	if (pending && depth > 0 && lv[depth - 1].key != NULL)
		config_path_join(out, size, out, lv[depth - 1].key);
}

static int
key_cmp(const void *a, const void *b)
{
	const struct node *x = *(const struct node *const *)a;
	const struct node *y = *(const struct node *const *)b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->key_line < y->key_line ? -1 : x->key_line > y->key_line;
}

/* Report keys that appear twice in one map (sorted copy: big maps stay
 * cheap). */
static void
check_duplicates(struct loader *ld, const struct node *map,
    const struct parse_level *lv, size_t depth)
{
	struct node **sorted;
	char path[PATH_MAX_LEN], full[PATH_MAX_LEN];
	size_t i;

	if (map->n < 2)
		return;
	sorted = malloc(map->n * sizeof(*sorted));
	if (sorted == NULL) {
		config_loader_oom(ld);
		return;
	}
	memcpy(sorted, map->kids, map->n * sizeof(*sorted));
	qsort(sorted, map->n, sizeof(*sorted), key_cmp);
	parse_path(lv, depth, true, path, sizeof(path));
	for (i = 1; i < map->n; i++) {
		if (strcmp(sorted[i]->key, sorted[i - 1]->key) != 0)
			continue;
		config_path_join(full, sizeof(full), path, sorted[i]->key);
		config_report_at(ld, map->src, sorted[i]->key_line, full,
		    "duplicate key (first on line %d)",
		    sorted[i - 1]->key_line);
	}
	free(sorted);
}

static const char *
event_anchor(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return (const char *)ev->data.scalar.anchor;
	case YAML_SEQUENCE_START_EVENT:
		return (const char *)ev->data.sequence_start.anchor;
	case YAML_MAPPING_START_EVENT:
		return (const char *)ev->data.mapping_start.anchor;
	default:
		return NULL;
	}
}

static const char *
event_tag(const yaml_event_t *ev)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return (const char *)ev->data.scalar.tag;
	case YAML_SEQUENCE_START_EVENT:
		return (const char *)ev->data.sequence_start.tag;
	case YAML_MAPPING_START_EVENT:
		return (const char *)ev->data.mapping_start.tag;
	default:
		return NULL;
	}
}

/* A node for a scalar, sequence-start or mapping-start event, or NULL with
 * the problem reported. */
static struct node *
node_from_event(struct loader *ld, const char *src, const yaml_event_t *ev,
    const char *path)
{
	struct node *n;
	const char *tag = event_tag(ev);
	bool str_tag = false;

	if (event_anchor(ev) != NULL) {
		config_report_at(ld, src, (int)ev->start_mark.line + 1, path,
		    "anchors and aliases are not supported");
		return NULL;
	}
	if (tag != NULL) {
		if (ev->type == YAML_SCALAR_EVENT &&
		    (strcmp(tag, "tag:yaml.org,2002:str") == 0 ||
		    strcmp(tag, "!") == 0))
			str_tag = true;
		else if (!(ev->type == YAML_MAPPING_START_EVENT &&
		    strcmp(tag, "tag:yaml.org,2002:map") == 0) &&
		    !(ev->type == YAML_SEQUENCE_START_EVENT &&
		    strcmp(tag, "tag:yaml.org,2002:seq") == 0)) {
			config_report_at(ld, src, (int)ev->start_mark.line + 1, path,
			    "YAML tags are not supported");
			return NULL;
		}
	}
	if (++ld->n_nodes > CONFIG_MAX_NODES) {
		config_report_at(ld, src, (int)ev->start_mark.line + 1, path,
		    "more than %d values", CONFIG_MAX_NODES);
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (n == NULL) {
		config_loader_oom(ld);
		return NULL;
	}
	n->src = src;
	n->line = (int)ev->start_mark.line + 1;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (strlen((const char *)ev->data.scalar.value) !=
		    ev->data.scalar.length) {
			config_report_at(ld, src, n->line, path,
			    "value contains a NUL character");
			free(n);
			return NULL;
		}
		n->value = strdup((const char *)ev->data.scalar.value);
		if (n->value == NULL) {
			config_loader_oom(ld);
			free(n);
			return NULL;
		}
		n->quoted = str_tag ||
		    ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
		n->type = !n->quoted && plain_null(n->value) ?
		    NODE_NULL : NODE_SCALAR;
		break;
	case YAML_SEQUENCE_START_EVENT:
		n->type = NODE_SEQ;
		break;
	default:
		n->type = NODE_MAP;
		break;
	}
	return n;
}

/* Parse one YAML document into a tree. Returns the root (an empty map for
 * an empty document), or NULL with the problem reported. */
struct node *
config_tree_parse(struct loader *ld, const char *src, const char *text, size_t len)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct parse_level lv[CONFIG_MAX_DEPTH + 1];
	struct parse_level *top;
	struct node *root = NULL, *n;
	char path[PATH_MAX_LEN];
	size_t depth = 0, i;
	int docs = 0;
	bool done = false, failed = false;

	if (len > CONFIG_MAX_BYTES) {
		config_report_at(ld, src, 0, NULL, "larger than %d bytes",
		    CONFIG_MAX_BYTES);
		return NULL;
	}
	ld->n_nodes = 0;
	if (!yaml_parser_initialize(&parser)) {
		config_loader_oom(ld);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && !failed) {
		if (!yaml_parser_parse(&parser, &ev)) {
			parse_path(lv, depth, true, path, sizeof(path));
			if (parser.error == YAML_MEMORY_ERROR)
				config_loader_oom(ld);
			else if (parser.context != NULL)
				config_report_at(ld, src,
				    (int)parser.problem_mark.line + 1, path,
				    "YAML syntax error: %s %s",
				    parser.problem ? parser.problem : "error",
				    parser.context);
			else
				config_report_at(ld, src,
				    (int)parser.problem_mark.line + 1, path,
				    "YAML syntax error: %s",
				    parser.problem ? parser.problem : "error");
			failed = true;
			break;
		}
		top = depth > 0 ? &lv[depth - 1] : NULL;
		parse_path(lv, depth, true, path, sizeof(path));
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				config_report_at(ld, src, (int)ev.start_mark.line + 1,
				    NULL, "more than one YAML document");
				failed = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			config_report_at(ld, src, (int)ev.start_mark.line + 1, path,
			    "anchors and aliases are not supported");
			failed = true;
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (top != NULL && top->node->type == NODE_MAP &&
			    top->key == NULL) {
				/* a key */
				if (ev.type != YAML_SCALAR_EVENT) {
					config_report_at(ld, src,
					    (int)ev.start_mark.line + 1, path,
					    "a key must be a string, not a %s",
					    ev.type == YAML_MAPPING_START_EVENT ?
					    "map" : "list");
					failed = true;
					break;
				}
				if (event_anchor(&ev) != NULL) {
					config_report_at(ld, src,
					    (int)ev.start_mark.line + 1, path,
					    "anchors and aliases are not supported");
					failed = true;
					break;
				}
				top->key = strdup(
				    (const char *)ev.data.scalar.value);
				if (top->key == NULL) {
					config_loader_oom(ld);
					failed = true;
				}
				top->key_line = (int)ev.start_mark.line + 1;
				break;
			}
			n = node_from_event(ld, src, &ev, path);
			if (n == NULL) {
				failed = true;
				break;
			}
			if (top == NULL) {
				root = n;
			} else {
				if (top->node->type == NODE_MAP) {
					n->key = top->key;
					n->key_line = top->key_line;
					top->key = NULL;
				}
				if (config_node_append(top->node, n) != 0) {
					config_node_free(n);
					config_loader_oom(ld);
					failed = true;
					break;
				}
			}
			if (ev.type == YAML_SCALAR_EVENT)
				break;
			if (depth == CONFIG_MAX_DEPTH) {
				config_report_at(ld, src, n->line, path,
				    "nested deeper than %d levels",
				    CONFIG_MAX_DEPTH);
				failed = true;
				break;
			}
			lv[depth].node = n;
			lv[depth].key = NULL;
			lv[depth].key_line = 0;
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
			if (depth > 0) {
				check_duplicates(ld, lv[depth - 1].node, lv,
				    depth);
				depth--;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	if (failed)
		yaml_event_delete(&ev);
	for (i = 0; i < depth; i++)
		free(lv[i].key);
	yaml_parser_delete(&parser);
	if (failed || ld->oom) {
		config_node_free(root);
		return NULL;
	}
	if (root == NULL || root->type == NODE_NULL) {
		/* an empty file (or only comments): no changes */
		config_node_free(root);
		root = calloc(1, sizeof(*root));
		if (root == NULL) {
			config_loader_oom(ld);
			return NULL;
		}
		root->type = NODE_MAP;
		root->src = src;
		root->line = 1;
	}
	if (root->type != NODE_MAP) {
		config_report(ld, root, NULL, "the config must be a map of keys, "
		    "not a %s", root->type == NODE_SEQ ? "list" : "single value");
		config_node_free(root);
		return NULL;
	}
	return root;
}

/* ---- merge ---- */

/* Merge `user` into `def` in place, stealing the user's nodes: maps merge
 * key by key, anything else replaces. At the top, `stages` entries replace
 * the default's stage whole. A null where the default has a map changes
 * nothing (`proxy:` with every key commented out). */
int
config_tree_merge(struct node *def, struct node *user, int level, bool stages)
{
	struct node *u, *d;
	size_t i, j;

	for (i = 0; i < user->n; i++) {
		u = user->kids[i];
		d = NULL;
		for (j = 0; j < def->n; j++)
			if (strcmp(def->kids[j]->key, u->key) == 0) {
				d = def->kids[j];
				break;
			}
		if (d == NULL) {
			if (config_node_append(def, u) != 0)
				return -1;
			user->kids[i] = NULL;
			continue;
		}
		if (d->type == NODE_MAP && u->type == NODE_NULL && !stages)
			continue;
		if (d->type == NODE_MAP && u->type == NODE_MAP && !stages) {
			if (config_tree_merge(d, u, level + 1, level == 0 &&
			    strcmp(u->key, "stages") == 0) != 0)
				return -1;
			continue;
		}
		config_node_free(d);
		def->kids[j] = u;
		user->kids[i] = NULL;
	}
	/* the user map's emptied slots must not be freed twice */
	j = 0;
	for (i = 0; i < user->n; i++)
		if (user->kids[i] != NULL)
			user->kids[j++] = user->kids[i];
	user->n = j;
	return 0;
}
