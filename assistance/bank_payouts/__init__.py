"""Assistance payout batches through the bank (救助金经医疗保险基金支出户代发, issue 17).

What is owed to persons is on the claims ledger: ``claims.LedgerEntry`` rows whose cash status
is ``to_pay`` — the one-time payments of approved retroactive and tilt applications
(``payout`` entries) and the 补付 of re-settlements (``adjustment`` entries).  Those entries are
the instruction source: a batch for a region takes every such entry of its persons, sums them
per person into one instruction of :mod:`payments` (purpose ``assistance``), and the bank's
answer decides what becomes of them:

* ``to_pay`` → ``instructed`` when a batch takes the entry (row-locked; a partial unique
  constraint on :class:`assistance.models.PayoutLine` keeps an entry in one live line);
* ``instructed`` → ``paid`` when the bank confirms the person's instruction (the registered
  purpose handler, in the transaction that records the bank's answer); an application whose
  one-time entries are all paid then gets its :class:`assistance.models.Payout` record;
* a returned instruction keeps its entries ``instructed`` and suspends the payee's account;
  after a second person approves the corrected account (``payments`` correction), the entries
  go back to ``to_pay`` and the next batch instructs them under a new instruction number.

:class:`assistance.models.Payout` stays the per-application record ("this application's
one-time amount was paid, by whom, with which reference"): written by the bank confirmation,
or — for money paid outside the bank path — by finance's manual ``payout_create``, which
refuses an application whose entries are in a bank batch (``claims`` refuses to settle an
``instructed`` entry by hand), while a batch never takes an entry already paid.
"""
