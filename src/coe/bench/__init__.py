"""The benchmark harness: suites of items, systems that answer them, exact scorers and an LLM judge, results
stored per item in the store (so runs resume), and reports. See docs/benchmark.md."""
