package kafka

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/segmerge/segmerge/internal/setting"
)

// fences are what a transactional producer meets once its epoch was bumped,
// by a newer producer with its id or by the broker: PRODUCER_FENCED from
// the coordinator, INVALID_PRODUCER_EPOCH on produce (fatal to the client
// under KIP-890), INVALID_TXN_STATE for an EndTxn the broker no longer
// knows, and an unknown or unmapped producer id.
var fences = []error{kerr.ProducerFenced, kerr.InvalidProducerEpoch, kerr.InvalidTxnState, kerr.InvalidProducerIDMapping, kerr.UnknownProducerID}

// IsFence reports whether err is a fence (see fences).
func IsFence(err error) bool {
	for _, f := range fences {
		if errors.Is(err, f) {
			return true
		}
	}
	return false
}

// fatalEnd reports whether an error ending a transaction ends the run: a
// fence, or an id the client may not use.
func fatalEnd(err error) bool {
	return IsFence(err) || errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// Explain says what to do about a fence that was not the broker's: another
// process may use transactional id txnID, set by field.
func Explain(err error, field, txnID string) error {
	if err == nil || txnID == "" || !IsFence(err) {
		return err
	}
	return fmt.Errorf("%w: %w", err, setting.Invalid(field, txnID,
		"the transaction was fenced or invalidated: if another process uses this transactional id, give each process its own {%s}", field))
}
