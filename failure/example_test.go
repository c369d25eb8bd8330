package failure_test

import (
	"fmt"

	"github.com/refersion-relay/refersion-relay/failure"
)

// A pipeline decides what to do with an order from the kind of its error.
func ExampleKindOf() {
	outcomes := []error{
		nil,
		failure.ErrAlreadySent,
		&failure.Permanent{Status: 422, Reason: "rejected"},
		&failure.Unauthorized{Status: 401},
		failure.ErrBreakerOpen,
		&failure.Retryable{Status: 503},
	}
	for _, err := range outcomes {
		switch k := failure.KindOf(err); k {
		case failure.KindDelivered, failure.KindAlreadySent:
			fmt.Println(k, "-> done")
		case failure.KindPermanent:
			fmt.Println(k, "-> dead-letter")
		case failure.KindUnauthorized, failure.KindBreakerOpen:
			fmt.Println(k, "-> pause consuming")
		default:
			fmt.Println(k, "-> redo later")
		}
	}
	// Output:
	// delivered -> done
	// already_sent -> done
	// permanent -> dead-letter
	// unauthorized -> pause consuming
	// breaker_open -> pause consuming
	// retryable -> redo later
}
