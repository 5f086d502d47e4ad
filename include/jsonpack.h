/* jsonpack.h - json_pack for the patch builders, without its checks of
 * strings the core has already checked. */
#ifndef MESHINJECT_JSONPACK_H
#define MESHINJECT_JSONPACK_H

#include <jansson.h>

#include "buf.h"

/* As json_pack(fmt, ...), for the part of its format language the
 * injection uses: objects {}, arrays [], and the values s (const char *),
 * i (int), I (json_int_t), b (int, as a boolean), f (double), o (json_t *,
 * stolen) and O (json_t *, a new reference); spaces, ',' and ':' between
 * them. Keys are s. Unlike json_pack, strings are not checked for UTF-8:
 * every string the builders pass comes from the config (libyaml checked
 * it), from the parsed pod (jansson or jsonread checked it), is a literal
 * or was cleaned with utf8_clean; jsonwrite refuses any that is not, so
 * the answer fails rather than carry it.
 * Returns a new reference, or NULL when a string or value is NULL, the
 * format is not one of the above, or memory runs out; like json_pack, an
 * o value is stolen also when it fails. */
json_t *jsonpack(const char *fmt, ...);

/* Append to b the text jsonwrite_dumps(jsonpack(fmt, ...), JSON_COMPACT)
 * would write, without building the tree: what the patch builders write
 * most (the proxy's container). The same formats, and one more: R, a
 * const char * and a size_t, splices that many bytes of text as they are
 * where items or members stand (a list of its own, comma-separated, or
 * nothing when the size is 0), for the parts a builder adds only
 * sometimes. A key must not come twice (a tree would keep one).
 * o values are stolen, also on failure; a value that jsonwrite refuses
 * (a string that is not UTF-8) fails here at once.
 * Returns 0 with b NUL-terminated, or -1 with b as it was. */
int jsonpack_text(struct buf *b, const char *fmt, ...);

#endif
