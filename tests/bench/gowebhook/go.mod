// The Go webhook of make bench (tests/bench/run.sh builds it into
// build/bench/gowebhook): the standard library only.
module meshinject.test/bench/gowebhook

go 1.26
