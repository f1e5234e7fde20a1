"""followup: monthly follow-up of projects for young people who neither work nor study."""
