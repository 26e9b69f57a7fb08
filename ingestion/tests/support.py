from ingestion import services


def run_now(source, **kwargs):
    """Start a run and execute it here, as a worker would; the finished run."""
    run, started = services.start_run(source, trigger="command", dispatch=False)
    assert started
    return services.execute_run(run.pk, **kwargs)
