package deadletter

// ReasonNoAccount marks an order or cancel that no Refersion account takes
// (ACCOUNTS_FILE): its route field selects none and there is no default.
// Replay it once an account selects it.
const ReasonNoAccount = "no_account"
