package plugin

import (
	"context"
	"crypto/tls"
	"fmt"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wxsync/wxsync/plugin/pb"
)

// Name is the key of the source in go-plugin's plugin map.
const Name = "source"

// ProtocolVersion is the version of this protocol; a host and a plugin of
// different versions refuse each other at the handshake. Version 2 packs
// a NeedProfiles page into one bytes field and answers positions.
const ProtocolVersion = 2

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

func (p *grpcPlugin) GRPCServer(b *goplugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterSourceServer(s, &server{impl: p.impl, broker: b})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, b *goplugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &dispensed{src: pb.NewSourceClient(c), broker: b}, nil
}

// dispensed is what the host gets from go-plugin: the source's client and
// the broker through which the host serves its own services.
type dispensed struct {
	src    pb.SourceClient
	broker *goplugin.GRPCBroker
}

// serveHost serves h on a new broker id and returns the id.
func serveHost(b *goplugin.GRPCBroker, h Host) uint32 {
	id := b.NextId()
	go b.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))
		s := grpc.NewServer(opts...)
		pb.RegisterHostServer(s, &hostServer{impl: h})
		return s
	})
	return id
}

// hostServer adapts a Host to the generated gRPC service (host side).
type hostServer struct {
	pb.UnimplementedHostServer
	impl Host
}

func (h *hostServer) NeedProfiles(ctx context.Context, req *pb.NeedProfilesRequest) (*pb.NeedProfilesResponse, error) {
	page, err := unpackOpenIDs(req.GetOpenids())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	ids, err := h.impl.NeedProfiles(ctx, page)
	if err != nil {
		// The host's lookup already retried its database; what is left is
		// an outage to wait out.
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	pos, err := needPositions(page, ids)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &pb.NeedProfilesResponse{Need: pos}, nil
}

// KeepRefreshToken stores a refresh token through the host's Keeper.
func (h *hostServer) KeepRefreshToken(ctx context.Context, req *pb.KeepRefreshTokenRequest) (*pb.KeepRefreshTokenResponse, error) {
	k, ok := h.impl.(Keeper)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this host keeps no credentials")
	}
	if err := k.KeepRefreshToken(ctx, req.GetAppid(), req.GetRefreshToken()); err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	return &pb.KeepRefreshTokenResponse{}, nil
}

// hostClient is the plugin's Host: calls back to the host over the broker.
type hostClient struct {
	c pb.HostClient
}

func (h *hostClient) NeedProfiles(ctx context.Context, openids []string) ([]string, error) {
	r, err := h.c.NeedProfiles(ctx, &pb.NeedProfilesRequest{Openids: packOpenIDs(openids)}, grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))
	if err != nil {
		// A host that cannot answer (its database down past its retries,
		// or the host going away) ends the Read as a temporary failure:
		// nothing was fetched for this page, and the cursor stays before it.
		return nil, TemporaryError(fmt.Errorf("ask the host which profiles are needed: %s", status.Convert(err).Message()))
	}
	need, err := needAt(openids, r.GetNeed())
	if err != nil {
		return nil, fmt.Errorf("ask the host which profiles are needed: %w", err)
	}
	return need, nil
}

// KeepRefreshToken asks the host to store a refresh token.
func (h *hostClient) KeepRefreshToken(ctx context.Context, appid, refreshToken string) error {
	if _, err := h.c.KeepRefreshToken(ctx, &pb.KeepRefreshTokenRequest{Appid: appid, RefreshToken: refreshToken}); err != nil {
		return fmt.Errorf("ask the host to store the new refresh token: %s", status.Convert(err).Message())
	}
	return nil
}

// Serve serves src as a go-plugin gRPC plugin on this process's stdio
// handshake, with mutual TLS when the host passed credentials (EnvTLSFD).
// It returns when the host goes away, or at once with the error when the
// credentials the host named cannot be read: then it never serves.
func Serve(src Source) error {
	tlsConfig, err := pluginTLS()
	if err != nil {
		return err
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake(),
		Plugins:         goplugin.PluginSet{Name: &grpcPlugin{impl: src}},
		TLSProvider:     func() (*tls.Config, error) { return tlsConfig, nil },
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))
			return grpc.NewServer(opts...)
		},
	})
	return nil
}
