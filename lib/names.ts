/** The stack's id and CloudFormation name; tools find its outputs under this key. */
export const STACK_NAME = 'Watershed';
