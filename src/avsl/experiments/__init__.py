"""The experiments the README reports, apart from the library: the train-then-test runner
(`runner`), the results tables and studies (`studies`, each table's rows in `tables/<name>.yaml`)
and the pseudo-label curves of training over time (`drift`). `avsl bench --suite <table>` and
`avsl demo` run them."""
