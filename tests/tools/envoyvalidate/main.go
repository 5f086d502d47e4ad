// envoy-validate - check Envoy bootstraps against Envoy's own API rules, as
// the proxy does when it loads one: strict protojson (unknown fields and
// unresolvable typed_config types refused) into
// envoy.config.bootstrap.v3.Bootstrap, then the generated protoc-gen-validate
// rules (ValidateAll) on the bootstrap and on every google.protobuf.Any
// inside it, which the generated validators do not descend into. Fields
// Envoy marks deprecated are refused as well: a bootstrap meshinject writes
// must not lean on what the next Envoy drops.
//
// The API is go-control-plane/envoy of the proxy image's Envoy release
// (go.mod pins it), with every v3 extension package registered
// (extensions.go).
//
//	envoy-validate FILE...   each FILE (or - for stdin) is one bootstrap as
//	                         JSON; prints "FILE: ok" or "FILE: <error>", exits
//	                         1 when any is refused, 2 on a usage error
//	envoy-validate -batch    JSON lines on stdin, {"name": N, "bootstrap": B}
//	                         with B the bootstrap's text or the object itself;
//	                         one line out for each, in order and flushed:
//	                         {"name": N, "ok": true} or
//	                         {"name": N, "ok": false, "error": "..."}
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/envoyproxy/go-control-plane/envoy/annotations"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
)

// maxLine bounds one batch line (a bootstrap with its JSON envelope).
const maxLine = 64 << 20

// maxDepth bounds the nesting of Any inside Any.
const maxDepth = 32

type validator interface {
	ValidateAll() error
}

// validateBootstrap returns nil when Envoy's API rules accept the JSON text
// as a Bootstrap, or the first reason they refuse it (several, joined, when
// the rules report more than one at a level).
func validateBootstrap(text []byte) error {
	var b bootstrapv3.Bootstrap

	if len(bytes.TrimSpace(text)) == 0 {
		return errors.New("empty bootstrap")
	}
	opts := protojson.UnmarshalOptions{DiscardUnknown: false, Resolver: protoregistry.GlobalTypes}
	if err := opts.Unmarshal(text, &b); err != nil {
		return fmt.Errorf("not an envoy.config.bootstrap.v3.Bootstrap: %v", err)
	}
	if err := b.ValidateAll(); err != nil {
		return fmt.Errorf("bootstrap: %v", err)
	}
	return walk(b.ProtoReflect(), "", 0)
}

// walk visits every set field of m: a deprecated one is an error, an Any is
// unpacked and its message validated and walked in turn. path names the
// field in the bootstrap's JSON (proto field names), for the messages.
func walk(m protoreflect.Message, path string, depth int) error {
	var err error

	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		if path == "" {
			p = string(fd.Name())
		}
		if err = deprecated(fd, v, p); err != nil {
			return false
		}
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = visit(l.Get(i).Message(), fmt.Sprintf("%s[%d]", p, i), depth)
			}
		case fd.IsMap():
			if fd.MapValue().Kind() != protoreflect.MessageKind {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				err = visit(mv.Message(), fmt.Sprintf("%s[%q]", p, k.String()), depth)
				return err == nil
			})
		default:
			err = visit(v.Message(), p, depth)
		}
		return err == nil
	})
	return err
}

// maxDurationSeconds is the longest duration Envoy takes: it checks every
// Duration in a config (non-negative, nanos below a second) and turns most
// into milliseconds, refusing what overflows int64 nanoseconds (about 292
// years; DurationUtil, source/common/protobuf/utility.cc).
const maxDurationSeconds = (1<<63 - 1) / 1_000_000_000

// visit walks a message field; an Any is unpacked, validated and walked, a
// Duration checked as Envoy checks every one.
func visit(m protoreflect.Message, path string, depth int) error {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Duration":
		f := m.Descriptor().Fields()
		s, n := m.Get(f.ByName("seconds")).Int(), m.Get(f.ByName("nanos")).Int()
		if s < 0 || n < 0 || n > 999_999_999 || s > maxDurationSeconds {
			return fmt.Errorf("%s: duration %ds %dns is out of the range Envoy takes (0 to %d s)", path, s, n, maxDurationSeconds)
		}
		return nil
	case "google.protobuf.Any":
	default:
		return walk(m, path, depth)
	}
	if depth >= maxDepth {
		return fmt.Errorf("%s: google.protobuf.Any nested more than %d deep", path, maxDepth)
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return fmt.Errorf("%s: an Any that is not a google.protobuf.Any", path)
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		return fmt.Errorf("%s: %s: %v", path, a.GetTypeUrl(), err)
	}
	at := fmt.Sprintf("%s (%s)", path, a.GetTypeUrl())
	if v, ok := inner.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("%s: %v", at, err)
		}
	} else if !strings.HasPrefix(string(inner.ProtoReflect().Descriptor().FullName()), "google.protobuf.") {
		// Every Envoy and xDS type has generated rules; one without is
		// not something this tool knows how to check.
		return fmt.Errorf("%s: %s has no validation rules", at, inner.ProtoReflect().Descriptor().FullName())
	}
	return walk(inner.ProtoReflect(), at, depth+1)
}

// deprecated refuses a field (or an enum value) Envoy marks deprecated or
// disallowed by default.
func deprecated(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	if o, ok := fd.Options().(*descriptorpb.FieldOptions); ok && o != nil {
		if o.GetDeprecated() {
			return fmt.Errorf("%s: field %s is deprecated", path, fd.FullName())
		}
		if d, _ := proto.GetExtension(o, annotations.E_DisallowedByDefault).(bool); d {
			return fmt.Errorf("%s: field %s is disallowed by default", path, fd.FullName())
		}
	}
	if fd.Kind() != protoreflect.EnumKind || fd.IsMap() {
		return nil
	}
	check := func(n protoreflect.EnumNumber) error {
		ev := fd.Enum().Values().ByNumber(n)
		if ev == nil {
			return nil
		}
		if o, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && o != nil {
			if o.GetDeprecated() {
				return fmt.Errorf("%s: value %s is deprecated", path, ev.FullName())
			}
			if d, _ := proto.GetExtension(o, annotations.E_DisallowedByDefaultEnum).(bool); d {
				return fmt.Errorf("%s: value %s is disallowed by default", path, ev.FullName())
			}
		}
		return nil
	}
	if fd.IsList() {
		l := v.List()
		for i := 0; i < l.Len(); i++ {
			if err := check(l.Get(i).Enum()); err != nil {
				return err
			}
		}
		return nil
	}
	return check(v.Enum())
}

type request struct {
	Name      string          `json:"name"`
	Bootstrap json.RawMessage `json:"bootstrap"`
}

type verdict struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// judge one batch line.
func judge(line []byte, n int) verdict {
	var req request

	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return verdict{Error: fmt.Sprintf("line %d: not a {\"name\", \"bootstrap\"} object: %v", n, err)}
	}
	v := verdict{Name: req.Name}
	text := []byte(req.Bootstrap)
	if len(text) > 0 && text[0] == '"' {
		var s string
		if err := json.Unmarshal(text, &s); err != nil {
			v.Error = fmt.Sprintf("line %d: bootstrap: %v", n, err)
			return v
		}
		text = []byte(s)
	}
	if len(text) == 0 || string(text) == "null" {
		v.Error = fmt.Sprintf("line %d: no bootstrap", n)
		return v
	}
	if err := validateBootstrap(text); err != nil {
		v.Error = err.Error()
		return v
	}
	v.OK = true
	return v
}

// batch answers each line of in on out, in order, flushing each answer so
// that a caller can wait for it.
func batch(in io.Reader, out io.Writer) error {
	r := bufio.NewReaderSize(in, 1<<20)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for n := 1; ; n++ {
		line, err := readLine(r)
		if len(bytes.TrimSpace(line)) > 0 {
			if e := enc.Encode(judge(line, n)); e != nil {
				return e
			}
			if e := w.Flush(); e != nil {
				return e
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLine reads one line of at most maxLine bytes (a longer one is an
// error: the stream cannot be resynchronised).
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte

	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine {
			return nil, fmt.Errorf("a line is longer than %d bytes", maxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return line, err
	}
}

func files(names []string, out io.Writer) int {
	bad := 0
	for _, name := range names {
		var text []byte
		var err error
		if name == "-" {
			text, err = io.ReadAll(os.Stdin)
		} else {
			text, err = os.ReadFile(name)
		}
		if err == nil {
			err = validateBootstrap(text)
		}
		if err != nil {
			bad++
			fmt.Fprintf(out, "%s: %v\n", name, err)
		} else {
			fmt.Fprintf(out, "%s: ok\n", name)
		}
	}
	if bad > 0 {
		return 1
	}
	return 0
}

func main() {
	args := os.Args[1:]
	switch {
	case len(args) == 1 && args[0] == "-batch":
		if err := batch(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "envoy-validate: %v\n", err)
			os.Exit(2)
		}
	case len(args) > 0 && !strings.HasPrefix(args[0], "-") || len(args) > 0 && args[0] == "-":
		os.Exit(files(args, os.Stdout))
	default:
		fmt.Fprintln(os.Stderr, "usage: envoy-validate FILE... | envoy-validate -batch")
		os.Exit(2)
	}
}
