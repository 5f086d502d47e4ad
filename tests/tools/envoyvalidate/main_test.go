// main_test.go - the validator accepts a bootstrap shaped as meshinject
// writes it (probe-rewrite and metrics-merge included) and refuses each kind
// of mistake Envoy refuses: it must be able to fail.
package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// A bootstrap as meshinject writes it under probe-rewrite (an HTTPS probe
// with a Host and another header) and metrics-merge.
const good = `{"admin":{"address":{"socket_address":{"address":"127.0.0.1","port_value":15000}}},
"dynamic_resources":{"ads_config":{"api_type":"GRPC","grpc_services":[{"envoy_grpc":{"cluster_name":"mesh-xds"}}],"transport_api_version":"V3"},
 "cds_config":{"ads":{},"resource_api_version":"V3"},"lds_config":{"ads":{},"resource_api_version":"V3"}},
"node":{"cluster":"web.shop","id":"$(POD_NAME).$(POD_NAMESPACE)","metadata":{"MESH_STAGE":"mtls","MTLS_MODE":"STRICT"}},
"static_resources":{"clusters":[
 {"connect_timeout":"1s","load_assignment":{"cluster_name":"mesh-xds","endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"mesh-control-plane.mesh-system.svc","port_value":15010}}}}]}]},
  "name":"mesh-xds","type":"STRICT_DNS","typed_extension_protocol_options":{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions":{"@type":"type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions","explicit_http_config":{"http2_protocol_options":{}}}}},
 {"connect_timeout":"1s","load_assignment":{"cluster_name":"mesh-admin","endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"127.0.0.1","port_value":15000}}}}]}]},"name":"mesh-admin","type":"STATIC"},
 {"connect_timeout":"1s","health_checks":[{"healthy_threshold":1,"http_health_check":{"expected_statuses":[{"end":400,"start":200}],"host":"web.example","path":"/livez",
   "request_headers_to_add":[{"header":{"key":"X-Probe","value":"yes"}}]},"interval":"10s","no_traffic_healthy_interval":"10s","no_traffic_interval":"10s","timeout":"1s","unhealthy_threshold":1}],
  "load_assignment":{"cluster_name":"mesh-probe-0","endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"127.0.0.1","port_value":8443}}}}]}]},"name":"mesh-probe-0",
  "transport_socket":{"name":"envoy.transport_sockets.tls","typed_config":{"@type":"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"}},"type":"STATIC"},
 {"connect_timeout":"1s","load_assignment":{"cluster_name":"mesh-app-metrics","endpoints":[{"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"127.0.0.1","port_value":9102}}}}]}]},"name":"mesh-app-metrics","type":"STATIC"}],
"listeners":[
 {"address":{"socket_address":{"address":"0.0.0.0","port_value":15021}},"filter_chains":[{"filters":[{"name":"envoy.filters.network.http_connection_manager","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  "http_filters":[{"name":"envoy.filters.http.health_check","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck","cluster_min_healthy_percentages":{"mesh-probe-0":{"value":100.0}},"headers":[{"name":":path","string_match":{"exact":"/app-health/web/livez"}}],"pass_through_mode":false}},
   {"name":"envoy.filters.http.router","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
  "route_config":{"virtual_hosts":[{"domains":["*"],"name":"mesh-status","routes":[{"match":{"prefix":"/healthz/ready"},"route":{"cluster":"mesh-admin","prefix_rewrite":"/ready"}}]}]},"stat_prefix":"mesh-status"}}]}],"name":"mesh-status"},
 {"address":{"socket_address":{"address":"0.0.0.0","port_value":15090}},"filter_chains":[{"filters":[{"name":"envoy.filters.network.http_connection_manager","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  "http_filters":[{"name":"envoy.filters.http.router","typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
  "route_config":{"virtual_hosts":[{"domains":["*"],"name":"mesh-metrics","routes":[{"match":{"prefix":"/stats/prometheus"},"route":{"cluster":"mesh-admin","prefix_rewrite":"/stats/prometheus"}},
   {"match":{"prefix":"/stats/app"},"route":{"cluster":"mesh-app-metrics","prefix_rewrite":"/metrics"}}]}]},"stat_prefix":"mesh-metrics"}}]}],"name":"mesh-metrics"}]}}`

// edit returns good with fn applied to its decoded form.
func edit(t *testing.T, fn func(b map[string]any)) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal([]byte(good), &b); err != nil {
		t.Fatal(err)
	}
	fn(b)
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// at walks a decoded JSON value by keys and indices.
func at(v any, path ...any) map[string]any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v.(map[string]any)
}

func probeCheck(b map[string]any) map[string]any {
	return at(b, "static_resources", "clusters", 2, "health_checks", 0, "http_health_check")
}

func hcm(b map[string]any) map[string]any {
	return at(b, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config")
}

func TestGoodBootstrap(t *testing.T) {
	if err := validateBootstrap([]byte(good)); err != nil {
		t.Fatalf("a bootstrap shaped as meshinject writes it is refused: %v", err)
	}
}

func TestRefused(t *testing.T) {
	cases := []struct {
		name string
		text []byte
		want string
	}{
		{"not JSON", []byte(`{"admin":`), "not an envoy.config.bootstrap.v3.Bootstrap"},
		{"empty", []byte(" \n"), "empty bootstrap"},
		{"unknown top-level field", edit(t, func(b map[string]any) { b["admins"] = map[string]any{} }), `unknown field "admins"`},
		{"unknown field inside a typed_config", edit(t, func(b map[string]any) { hcm(b)["stat_prefixes"] = "x" }), `unknown field "stat_prefixes"`},
		{"unresolvable Any", edit(t, func(b map[string]any) {
			at(hcm(b), "http_filters", 1, "typed_config")["@type"] = "type.googleapis.com/envoy.extensions.filters.http.nosuch.v3.Nosuch"
		}), "envoy.extensions.filters.http.nosuch.v3.Nosuch"},
		{"a v2 type Envoy 1.32 no longer has", edit(t, func(b map[string]any) {
			at(hcm(b), "http_filters", 1, "typed_config")["@type"] = "type.googleapis.com/envoy.config.filter.http.router.v2.Router"
		}), "envoy.config.filter.http.router.v2.Router"},
		{"header name with a newline", edit(t, func(b map[string]any) {
			at(probeCheck(b), "request_headers_to_add", 0, "header")["key"] = "X-A\nB"
		}), "Key"},
		{"empty header name", edit(t, func(b map[string]any) {
			at(probeCheck(b), "request_headers_to_add", 0, "header")["key"] = ""
		}), "Key"},
		{"header value with a carriage return", edit(t, func(b map[string]any) {
			at(probeCheck(b), "request_headers_to_add", 0, "header")["value"] = "a\rb"
		}), "Value"},
		{"empty health check path", edit(t, func(b map[string]any) { probeCheck(b)["path"] = "" }), "Path"},
		{"health check path with a control character", edit(t, func(b map[string]any) { probeCheck(b)["path"] = "/a\x01b" }), "Path"},
		{"health check host with a control character", edit(t, func(b map[string]any) { probeCheck(b)["host"] = "a\x7fb" }), "Host"},
		{"prefix_rewrite with a newline", edit(t, func(b map[string]any) {
			at(hcm(b), "route_config", "virtual_hosts", 0, "routes", 0, "route")["prefix_rewrite"] = "/a\nb"
		}), "PrefixRewrite"},
		{"missing required health check timeout", edit(t, func(b map[string]any) {
			delete(at(b, "static_resources", "clusters", 2, "health_checks", 0), "timeout")
		}), "Timeout"},
		{"missing required stat_prefix inside an Any", edit(t, func(b map[string]any) { delete(hcm(b), "stat_prefix") }), "StatPrefix"},
		{"port out of range", edit(t, func(b map[string]any) {
			at(b, "static_resources", "clusters", 3, "load_assignment", "endpoints", 0, "lb_endpoints", 0, "endpoint", "address", "socket_address")["port_value"] = 70000
		}), "PortValue"},
		{"negative duration", edit(t, func(b map[string]any) {
			at(b, "static_resources", "clusters", 2, "health_checks", 0)["interval"] = "-1s"
		}), "Interval"},
		{"duration out of protobuf's range", edit(t, func(b map[string]any) {
			at(b, "static_resources", "clusters", 2, "health_checks", 0)["interval"] = "999999999999s"
		}), "out of range"},
		{"duration past what Envoy turns into milliseconds", edit(t, func(b map[string]any) {
			at(b, "static_resources", "clusters", 2, "health_checks", 0)["timeout"] = "9300000000s"
		}), "health_checks[0].timeout: duration"},
		{"negative duration where no rule says so", edit(t, func(b map[string]any) {
			hcm(b)["request_timeout"] = "-5s"
		}), "typed_config (type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager).request_timeout: duration -5s"},
		{"a deprecated field", edit(t, func(b map[string]any) {
			at(b, "static_resources", "clusters", 0)["http2_protocol_options"] = map[string]any{}
		}), "deprecated"},
		{"bad enum", edit(t, func(b map[string]any) { at(b, "static_resources", "clusters", 0)["type"] = "STRICTER_DNS" }), "STRICTER_DNS"},
		{"invalid UTF-8", []byte("{\"node\":{\"cluster\":\"a\xffb\"}}"), "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validateBootstrap(c.text)
			if err == nil {
				t.Fatalf("accepted:\n%s", c.text)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

// The batch protocol: a string or an object, one verdict per line, in
// order; a bad line is answered, not fatal.
func TestBatch(t *testing.T) {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	_ = enc.Encode(map[string]any{"name": "text", "bootstrap": good})
	_ = enc.Encode(map[string]any{"name": "object", "bootstrap": json.RawMessage(good)})
	_ = enc.Encode(map[string]any{"name": "bad", "bootstrap": `{"nope":1}`})
	in.WriteString("not json\n")
	_ = enc.Encode(map[string]any{"name": "none"})
	var out bytes.Buffer
	if err := batch(&in, &out); err != nil {
		t.Fatal(err)
	}
	var got []verdict
	dec := json.NewDecoder(&out)
	for dec.More() {
		var v verdict
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if len(got) != 5 {
		t.Fatalf("%d verdicts for 5 lines: %+v", len(got), got)
	}
	want := []struct {
		name string
		ok   bool
		has  string
	}{{"text", true, ""}, {"object", true, ""}, {"bad", false, `unknown field "nope"`}, {"", false, "line 4"}, {"none", false, "no bootstrap"}}
	for i, w := range want {
		if got[i].Name != w.name || got[i].OK != w.ok || !strings.Contains(got[i].Error, w.has) {
			t.Errorf("line %d: got %+v, want name %q ok %v error containing %q", i+1, got[i], w.name, w.ok, w.has)
		}
	}
}
