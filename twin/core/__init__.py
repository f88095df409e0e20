"""The bottom layer every other one may import: errors, the shared vocabulary of the event log,
time units, and the record a replication hands from the model to the results."""
