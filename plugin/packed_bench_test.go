package plugin

import (
	"context"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/wxsync/wxsync/plugin/pb"
)

// noneNeeded is a Host whose every profile is fresh.
type noneNeeded struct{}

func (noneNeeded) NeedProfiles(_ context.Context, openids []string) ([]string, error) {
	return openids[:0:0], nil
}

// BenchmarkNeedProfilesPage times one NeedProfiles call of a 10,000-openid
// page over gRPC on loopback, both ends in this process (the filter
// answers at once): the protocol's own cost per page of a walk.
func BenchmarkNeedProfilesPage(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer(grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes))
	pb.RegisterHostServer(s, &hostServer{impl: noneNeeded{}})
	go func() { _ = s.Serve(ln) }()
	defer s.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	h := &hostClient{c: pb.NewHostClient(conn)}
	page := make([]string, 10_000)
	for i := range page {
		page[i] = fmt.Sprintf("oAcct1%022d", i)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if need, err := h.NeedProfiles(ctx, page); err != nil || len(need) != 0 {
			b.Fatal(need, err)
		}
	}
}
