"""The harness's ground floor: what a case is, the user's errors, atomic files. Imports only frameworks."""
