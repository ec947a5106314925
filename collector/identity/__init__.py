"""Who may connect to the broker and what each login may do: device logins and topic rights."""
