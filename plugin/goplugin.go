package plugin

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/wxsync/wxsync/plugin/pb"
)

// Name is the key of the source in go-plugin's plugin map.
const Name = "source"

// ProtocolVersion is the version of this protocol; a host and a plugin of
// different versions refuse each other at the handshake.
const ProtocolVersion = 1

// MaxMessageBytes bounds one gRPC message either way. A follower page is
// about 300 KB; the limit leaves room for large profile batches.
const MaxMessageBytes = 256 << 20

// Handshake is the go-plugin handshake: a plugin binary run by hand (without
// the cookie) says it is a plugin and exits, instead of serving.
func Handshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   "WXSYNC_PLUGIN_MAGIC_COOKIE",
		MagicCookieValue: "7c3b1f0e-wxsync-source",
	}
}

// grpcPlugin is the go-plugin glue: it serves a Source on the plugin side
// and builds a client on the host side.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	impl Source // plugin side only
}

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterSourceServer(s, &server{impl: p.impl})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return pb.NewSourceClient(c), nil
}

// Serve serves src as a go-plugin gRPC plugin on this process's stdio
// handshake. It returns when the host goes away.
func Serve(src Source) {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake(),
		Plugins:         goplugin.PluginSet{Name: &grpcPlugin{impl: src}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))
			return grpc.NewServer(opts...)
		},
	})
}
