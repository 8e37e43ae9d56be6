"""Backups that prove themselves by restoring (Arts. 14, 18; issue 12).

* :mod:`.full` takes a weekly full backup: the database dumped inside an exported snapshot,
  its manifest (row counts and content hashes per table, the ledger head) computed in that
  same snapshot, the document store copied through the :class:`~dossiers.core.objects.
  ObjectStore` protocol; everything compressed (zstd), then sealed (streamed AES-GCM,
  :mod:`dossiers.core.segments`) under the backup key, kept apart from the master key.
* The key ring is never in a data backup: it has its own small sealed backups
  (:mod:`.keyring`) with a short retention (``keyring_backup_keep_days``), so destroying a
  data key reaches every data backup once they expire (crypto-shredding, Art. 17).
* :mod:`.verify` checks a backup end to end; :mod:`.restore` restores one only after every
  byte of it opened; :mod:`.drill` restores every backup into a scratch database and
  document store and compares it with its manifest.
* :mod:`.catalogue` keeps the ``backup`` and ``backup_drill`` rows; :mod:`.retention`
  expires what the policy no longer keeps; :mod:`.offsite` ships the newest verified backup
  to S3 with Object Lock.
"""
