//go:build !wasip1

package abi

import (
	"maps"
	"slices"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestProtoMatchesServices compiles docs/plugin.proto, the services as
// published for authors in other languages, and holds it to the services
// both ends of the protocol build here: the same service and method names,
// every message a BytesValue. Neither can change without the other.
func TestProtoMatchesServices(t *testing.T) {
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{"../../docs"}})}
	files, err := c.Compile(t.Context(), "plugin.proto")
	if err != nil {
		t.Fatal(err)
	}
	services := files[0].Services()
	bytesValue := (&wrapperspb.BytesValue{}).ProtoReflect().Descriptor().FullName()
	proto := map[string][]string{}
	for i := range services.Len() {
		s := services.Get(i)
		for j := range s.Methods().Len() {
			m := s.Methods().Get(j)
			if m.Input().FullName() != bytesValue || m.Output().FullName() != bytesValue || m.IsStreamingClient() || m.IsStreamingServer() {
				t.Errorf("%s.%s is not rpc (BytesValue) returns (BytesValue)", s.FullName(), m.Name())
			}
			proto[string(s.FullName())] = append(proto[string(s.FullName())], string(m.Name()))
		}
	}
	code := map[string][]string{}
	for _, d := range []*grpc.ServiceDesc{ProbeServiceDesc(nil, nil), HostServiceDesc(nil, nil)} {
		for _, m := range d.Methods {
			code[d.ServiceName] = append(code[d.ServiceName], m.MethodName)
		}
	}
	if len(proto) != len(code) {
		t.Errorf("docs/plugin.proto has services %v, the code %v", slices.Sorted(maps.Keys(proto)), slices.Sorted(maps.Keys(code)))
	}
	for name, methods := range code {
		slices.Sort(methods)
		got := proto[name]
		slices.Sort(got)
		if !slices.Equal(got, methods) {
			t.Errorf("service %s: docs/plugin.proto has methods %q, the code %q", name, got, methods)
		}
	}
	if pkg := files[0].Package(); pkg != protoreflect.FullName("barbossa.plugin.v1") || ProbeService != string(pkg)+".Probe" || HostService != string(pkg)+".Host" {
		t.Errorf("package %s; the code's services are %s and %s", pkg, ProbeService, HostService)
	}
}
