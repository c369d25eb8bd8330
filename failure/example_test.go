package failure_test

import (
	"errors"
	"fmt"

	"github.com/refersion-relay/refersion-relay/failure"
)

// A pipeline decides what to do with an order from the kind of its error.
func ExampleKindOf() {
	outcomes := []error{
		nil,
		failure.ErrAlreadySent,
		&failure.Conflict{OrderID: "1001", Sent: "total 104.50 USD, 3 items", Now: "total 99.00 USD, 3 items"},
		&failure.Permanent{Status: 422, Reason: "rejected"},
		&failure.Unauthorized{Status: 401},
		failure.ErrBreakerOpen,
		&failure.Retryable{Status: 503},
		failure.ErrClaimHeld,
		&failure.StoreUnavailable{Store: "redis sent-order store", Err: errors.New("connection refused")},
	}
	for _, err := range outcomes {
		switch k := failure.KindOf(err); k {
		case failure.KindDelivered, failure.KindAlreadySent:
			fmt.Println(k, "-> done")
		case failure.KindPermanent:
			fmt.Println(k, "-> dead-letter")
		case failure.KindConflict:
			var c *failure.Conflict
			errors.As(err, &c)
			fmt.Println(k, "-> warn and dead-letter: sent", c.Sent+"; now", c.Now)
		case failure.KindUnauthorized, failure.KindBreakerOpen:
			fmt.Println(k, "-> pause consuming")
		case failure.KindStoreUnavailable:
			var su *failure.StoreUnavailable
			errors.As(err, &su)
			fmt.Println(k, "-> redo later; pause consuming:", su.Store, "unavailable")
		default:
			fmt.Println(k, "-> redo later")
		}
	}
	// Output:
	// delivered -> done
	// already_sent -> done
	// conflict -> warn and dead-letter: sent total 104.50 USD, 3 items; now total 99.00 USD, 3 items
	// permanent -> dead-letter
	// unauthorized -> pause consuming
	// breaker_open -> pause consuming
	// retryable -> redo later
	// claim_held -> redo later
	// store_unavailable -> redo later; pause consuming: redis sent-order store unavailable
}
