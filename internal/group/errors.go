package group

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Errors of the group protocol. Each wraps the Kafka error it stands for, so
// the handler boundary maps it with errors.As to a *kerr.Error.
var (
	ErrNotCoordinator          = fmt.Errorf("group: %w", kerr.NotCoordinator)
	ErrCoordinatorNotAvailable = fmt.Errorf("group: %w", kerr.CoordinatorNotAvailable)
	ErrLoadInProgress          = fmt.Errorf("group: %w", kerr.CoordinatorLoadInProgress)
	ErrInvalidGroupID          = fmt.Errorf("group: %w", kerr.InvalidGroupID)
	ErrUnknownMemberID         = fmt.Errorf("group: %w", kerr.UnknownMemberID)
	ErrMemberIDRequired        = fmt.Errorf("group: %w", kerr.MemberIDRequired)
	ErrIllegalGeneration       = fmt.Errorf("group: %w", kerr.IllegalGeneration)
	ErrRebalanceInProgress     = fmt.Errorf("group: %w", kerr.RebalanceInProgress)
	ErrInconsistentProtocol    = fmt.Errorf("group: %w", kerr.InconsistentGroupProtocol)
	ErrInvalidSessionTimeout   = fmt.Errorf("group: %w", kerr.InvalidSessionTimeout)
	ErrGroupMaxSizeReached     = fmt.Errorf("group: %w", kerr.GroupMaxSizeReached)
	ErrFencedInstanceID        = fmt.Errorf("group: %w", kerr.FencedInstanceID)
	ErrGroupNotFound           = fmt.Errorf("group: %w", kerr.GroupIDNotFound)
	ErrNonEmptyGroup           = fmt.Errorf("group: %w", kerr.NonEmptyGroup)
	ErrSubscribedToTopic       = fmt.Errorf("group: %w", kerr.GroupSubscribedToTopic)
	ErrMetadataTooLarge        = fmt.Errorf("group: %w", kerr.OffsetMetadataTooLarge)
	ErrInvalidCommitSize       = fmt.Errorf("group: %w", kerr.InvalidCommitOffsetSize)
	ErrUnknownServer           = fmt.Errorf("group: %w", kerr.UnknownServerError)
)

// Errors a Store's logs return, so the coordinator can tell Kafka's cases
// apart without knowing the storage packages.
var (
	// ErrRecordTooLarge: the batch exceeds the partition's max.message.bytes.
	ErrRecordTooLarge = errors.New("group: record batch larger than __consumer_offsets accepts")
	// ErrLogUnavailable: the partition cannot be written (closed, deleted,
	// storage failure).
	ErrLogUnavailable = errors.New("group: __consumer_offsets partition unavailable")
)

// commitAppendError maps a failed append of offset commits to the client's error,
// as Kafka's GroupMetadataManager does: too large is INVALID_COMMIT_OFFSET_SIZE,
// anything else means this broker cannot coordinate the group right now.
func commitAppendError(err error) error {
	if errors.Is(err, ErrRecordTooLarge) {
		return fmt.Errorf("%w: %w", ErrInvalidCommitSize, err)
	}
	return fmt.Errorf("%w: %w", ErrNotCoordinator, err)
}

// groupAppendError maps a failed append of group metadata: too large is
// UNKNOWN_SERVER_ERROR (nothing the client can fix), anything else
// NOT_COORDINATOR.
func groupAppendError(err error) error {
	if errors.Is(err, ErrRecordTooLarge) {
		return fmt.Errorf("%w: %w", ErrUnknownServer, err)
	}
	return fmt.Errorf("%w: %w", ErrNotCoordinator, err)
}
