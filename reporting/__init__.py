"""Report builders: Markdown tables and plots from the pipeline's metrics."""
