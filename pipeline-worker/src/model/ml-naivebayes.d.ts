// ml-naivebayes ships no type declarations; these cover the part the embedded model uses.
declare module "ml-naivebayes" {
  import type { Matrix } from "ml-matrix";

  export type MultinomialNBJson = {
    name: "MultinomialNB";
    priorProbability: Matrix | number[][];
    conditionalProbability: Matrix | number[][];
  };

  export class MultinomialNB {
    constructor(model?: MultinomialNBJson);
    /** Log prior of each class, as a column vector (classes x 1). */
    priorProbability: Matrix;
    /** Log probability of each feature given each class (classes x features). */
    conditionalProbability: Matrix;
    /** Labels must be the integers 0..n-1, every one present. */
    train(trainingSet: Matrix | number[][], trainingLabels: number[]): void;
    predict(dataset: Matrix | number[][]): number[];
    toJSON(): MultinomialNBJson;
    static load(model: MultinomialNBJson): MultinomialNB;
  }
}
