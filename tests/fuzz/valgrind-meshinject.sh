#!/bin/sh
# valgrind-meshinject.sh - meshinject under valgrind's memcheck, for `make
# valgrind`: the end-to-end tests run this script as MESHINJECT_BIN, so
# that every meshinject they start (serve above all, which they stop with
# SIGTERM) runs under memcheck. A definite leak or any memory error makes
# the process exit with 99; valgrind's report of each process goes to
# $MESHINJECT_VALGRIND_LOGS/vg.<pid>.log, which make valgrind reads.
# The JSON arena is off (MESHINJECT_JSON_ARENA=0) so that memcheck sees
# each of jansson's allocations, as the sanitizer builds do.
: "${MESHINJECT_REAL_BIN:?set MESHINJECT_REAL_BIN to the meshinject binary}"
: "${MESHINJECT_VALGRIND_LOGS:?set MESHINJECT_VALGRIND_LOGS to a directory}"
MESHINJECT_JSON_ARENA=0 exec valgrind --tool=memcheck --leak-check=full \
    --errors-for-leak-kinds=definite --show-leak-kinds=definite \
    --error-exitcode=99 --track-origins=no --num-callers=30 \
    --log-file="$MESHINJECT_VALGRIND_LOGS/vg.%p.log" \
    "$MESHINJECT_REAL_BIN" "$@"
