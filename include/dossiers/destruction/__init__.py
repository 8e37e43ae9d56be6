"""Destruction of dossiers (Art. 17): eligibility and legal holds, the Destruction Request
Form and its gates, execution with a re-check inside the destroying transaction
(crypto-shredding of the data key), paper volumes, tombstones, the register that outlives a
restore, and the signed destruction certificate."""
