package sink_test

import (
	"context"
	"fmt"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/sink/sinktest"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func ExampleNew() {
	sb := sandbox.New(sandbox.Options{Keys: "pub.sec"})
	if err := sb.Start(); err != nil {
		panic(err)
	}
	defer sb.Close()

	keys, err := sink.ParseKeys("pub.sec")
	if err != nil {
		panic(err)
	}
	s, err := sink.New(sink.Config{Endpoint: sb.Endpoint(), Keys: keys}, memory.NewSent(memory.Options{}))
	if err != nil {
		panic(err)
	}
	defer s.Close()

	ctx := context.Background()
	for _, o := range []struct{ id, what string }{{"1001", "valid"}, {"1001", "again"}, {"1002", "malformed"}} {
		order := sinktest.Order(o.id)
		if o.what == "malformed" {
			order = sinktest.Malformed(o.id)
		}
		fmt.Printf("order %s (%s): %s\n", o.id, o.what, failure.KindOf(s.Send(ctx, order)))
	}
	fmt.Println("accepted by the sandbox:", sb.Stats().Accepted)
	// Output:
	// order 1001 (valid): delivered
	// order 1001 (again): already_sent
	// order 1002 (malformed): permanent
	// accepted by the sandbox: 1
}
