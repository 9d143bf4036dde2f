package graphqlclient

// Input is a mutation's input object: an absent key leaves the field
// alone, a nil value clears it (null), as the API's updates do.
type Input map[string]any
