"""One module per `edgeae` command: its parser (`add_parser`) and the function it runs (`run`).

`COMMANDS` lists them in the order `edgeae --help` shows them; adding a command is a module here
and a name in that tuple.
"""

from edgeae.app.commands import (
    adapt,
    benchmark,
    demo,
    denoise,
    evaluate,
    export,
    generate,
    info,
    reconstruct,
    report,
    run,
    score,
    service,
    threshold,
    train,
)

COMMANDS = (train, adapt, export, reconstruct, score, evaluate, threshold, run, service,
            denoise, benchmark, generate, report, info, demo)
