/** Kinesis sequence numbers are decimal strings of up to 128 digits: compare them as integers. */
export function compareSequenceNumbers(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Fixed width, so that DynamoDB's string order on sort keys is the numeric order. */
export function sortableSequence(sequenceNumber: string): string {
  return sequenceNumber.padStart(128, '0');
}
