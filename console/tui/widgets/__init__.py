"""The console's widgets and screens: they place what console.tui's view models computed and
never do I/O."""
