"""The shared commands: ``python -m common.commands.<train|predict|cv|tune|blend> --task NAME ...``.

Each drives any :class:`common.task.Task`; ``make <task>-<command>`` calls them.
"""
