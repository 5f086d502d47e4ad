/* jsonalloc.h - jansson's allocator for the core: counts failed
 * allocations, and gives one review a per-thread arena. */
#ifndef MESHINJECT_JSONALLOC_H
#define MESHINJECT_JSONALLOC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Failed jansson allocations so far in this thread. jansson swallows some
 * failures (a string it cannot grow while parsing, an object key it cannot
 * write while dumping), and a nested json_pack or json_object_set_new
 * whose failure goes unchecked loses a member silently; so the core counts
 * them instead: a review or a config load during which the count changes
 * fails as out of memory rather than answer with a part missing. The first
 * call installs the allocator (json_set_alloc_funcs) over the one in
 * place, once per process; later json_set_alloc_funcs calls remove it. */
unsigned long jsonalloc_failures(void);

/* Whether the arena may be used at all (default true). The shell's switch
 * (main.c reads MESHINJECT_JSON_ARENA=0, for valgrind); the library reads
 * no environment. Takes effect only before the allocator is installed,
 * i.e. before the first call of any other jsonalloc function. */
void jsonalloc_set_arena(bool on);

/* Start an arena for this thread: until jsonalloc_arena_end, jansson's
 * allocations are cut from a few large blocks and its frees of them do
 * nothing, so that a review's thousands of small values cost a pointer
 * bump each and its trees need no walk to be freed. Returns true when the
 * arena is on; false when it cannot be (another allocator was installed
 * over ours, as the allocation-failure tests do; jsonalloc_set_arena(false);
 * or a MemorySanitizer build), in which case jansson
 * allocates as before and the caller frees its trees as usual.
 *
 * While it is on, nothing jansson allocates may outlive the arena, and no
 * jansson-allocated memory may go to free() (json_dumps's result: use
 * jsonwrite_dumps, which uses malloc). Not nestable. */
bool jsonalloc_arena_begin(void);

/* End this thread's arena: everything jansson allocated in it is gone.
 * Keeps one block for the thread's next arena. */
void jsonalloc_arena_end(void);

/* json_decref(j), except while this thread's arena is on: then j goes
 * with the arena, without the walk over its tree that freeing it takes. */
void jsonalloc_drop(json_t *j);

/* Bytes the arena handed out since jsonalloc_arena_begin (tests). */
size_t jsonalloc_arena_used(void);

/* Drop this thread's kept block (a thread about to exit; tests). */
void jsonalloc_arena_release(void);

#endif
