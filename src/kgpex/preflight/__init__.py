"""Stage preflight (preflight.smk): bad input stops the run before any expensive job, with one line naming the file and field."""
