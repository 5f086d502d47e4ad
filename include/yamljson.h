/* yamljson.h - YAML streams (libyaml) to JSON values (jansson) and back,
 * with the scalar rules Kubernetes applies to manifests.
 *
 * Reading follows sigs.k8s.io/yaml (yaml.v2, YAML 1.1) for untagged plain
 * scalars, so that a manifest means here what it means to kubectl:
 *   - null: "", ~, null, Null, NULL
 *   - bool: true/false, yes/no, on/off, y/n in their lower, Capitalised and
 *     UPPER forms (YAML 1.1, as kubectl: `enabled: yes` is the bool true)
 *   - int: decimal, 0x hex, 0o and leading-0 octal ("0777" is 511), 0b
 *     binary, with an optional sign; "_" separators ignored
 *   - float: [-+]?(.N|N[.N])([eE][-+]?N)? ("1e3" is 1000.0), .5, and
 *     .inf/.nan, which JSON cannot hold: refused
 *   - everything else, timestamps included, is a string
 * Quoted scalars are always strings. Explicit tags !!str, !!int, !!float,
 * !!bool, !!null, !!map, !!seq are honoured (a value that does not fit the
 * tag is refused); other scalar tags leave the text a string; !!binary is
 * refused. Mapping keys are always strings taken as written (`on:` is the
 * key "on", where sigs.k8s.io/yaml would make it "true"); complex keys are
 * refused. `<<` merge keys work as in YAML 1.1, explicit keys winning.
 * Anchors and aliases are resolved by copying, within a limit on the total
 * number of nodes, so that an alias bomb ("billion laughs") is refused
 * instead of exhausting memory. Duplicate keys are refused. Every error has
 * a 1-based line and column.
 *
 * Writing uses libyaml's emitter in block style; a string is quoted when it
 * would read back (here or in a YAML 1.2 reader) as anything but that
 * string, multi-line strings use literal blocks, keys keep their order.
 */
#ifndef MESHINJECT_YAMLJSON_H
#define MESHINJECT_YAMLJSON_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#define YAMLJSON_MAX_INPUT	((size_t)32 << 20)	/* bytes */
#define YAMLJSON_MAX_DEPTH	128		/* nested collections */
/* Nodes that aliases may copy in a whole stream; the nodes written out are
 * bounded by the input size. */
#define YAMLJSON_MAX_ALIAS_NODES 1000000

struct yamljson_error {
	int line;		/* 1-based; 0 when there is no position */
	int column;		/* 1-based */
	char text[256];
};

/* Read every document of a YAML stream. Returns a new JSON array with one
 * value per document (null for an empty document), or NULL with err filled
 * (a bad document fails the whole stream). */
json_t *yamljson_load(const char *buf, size_t len, struct yamljson_error *err);

/* Write the values of the array `docs` (borrowed) as a YAML stream, the
 * documents separated by "---". Returns a new NUL-terminated text the caller
 * frees, or NULL with a reason in err. */
char *yamljson_dump(const json_t *docs, char *err, size_t errlen);

/* Would the plain (unquoted) scalar `text` read as something other than a
 * string? Exposed for the tests and for the emitter's quoting. */
int yamljson_plain_is_string(const char *text, size_t len);

#endif
