"""Extensions of moto's backends for the lab daemon (in-process): each module patches one gap FINDINGS.md lists."""
