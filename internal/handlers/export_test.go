package handlers

// Exported for the external tests (package handlers_test, which run whole
// nodes through internal/node).
const (
	ClusterOperations = clusterOperations
	OperationsOmitted = operationsOmitted
	TopicOperations   = topicOperations
)
