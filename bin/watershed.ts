import { createWatershedApp } from '../lib/app';

createWatershedApp();
